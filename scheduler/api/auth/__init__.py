"""Who is calling the HTTP API: bearer JWTs verified against a JWKS (`verifier`, the
rules in its docstring), keys from a document or a URL (`keys`), the resulting caller
(`principal`), and development tokens (`development`)."""

from scheduler.api.auth.development import DEV_AUDIENCE, DEV_ISSUER, DevelopmentSigner
from scheduler.api.auth.keys import JwksUrl, KeySource, StaticJwks, parse_jwks
from scheduler.api.auth.principal import (
    CUSTOMER_HEADER,
    AuthError,
    Forbidden,
    KeySourceUnavailable,
    Principal,
    Role,
    Unauthenticated,
    bearer_token,
)
from scheduler.api.auth.verifier import ALLOWED_ALGORITHMS, LEEWAY, TokenVerifier

__all__ = [
    "ALLOWED_ALGORITHMS",
    "CUSTOMER_HEADER",
    "DEV_AUDIENCE",
    "DEV_ISSUER",
    "LEEWAY",
    "AuthError",
    "DevelopmentSigner",
    "Forbidden",
    "JwksUrl",
    "KeySource",
    "KeySourceUnavailable",
    "Principal",
    "Role",
    "StaticJwks",
    "TokenVerifier",
    "Unauthenticated",
    "bearer_token",
    "development",
    "keys",
    "parse_jwks",
    "principal",
    "verifier",
]
