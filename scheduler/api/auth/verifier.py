"""Who is calling the HTTP API: bearer JWTs verified against a JWKS, turned into a Principal.

Production tokens come from Entra ID; locally `DevelopmentSigner` (and `tsched token`)
issues tokens of the same shape. The rules, in one place:

- **Algorithms.** Only `RS256` and `ES256` (`ALLOWED_ALGORITHMS`). The list is pinned and
  the token's `alg` header is checked against it *before* a key is looked up, and again
  against the key's own type, so `alg=none`, every HMAC algorithm and the HS/RS confusion
  (a token HMAC-signed with the RSA public key as the secret) are all rejected.
- **Keys.** The header's `kid` selects a key from a `KeySource`: `StaticJwks` (a JWKS
  document, e.g. the development signer's) or `JwksUrl` (Entra ID's `jwks_uri`, cached,
  fetched again when an unknown `kid` appears, i.e. after key rollover).
- **Claims.** `iss` and `aud` must equal the configured ones; `exp`, `iss`, `aud` and `sub`
  are required; `exp`/`nbf` are checked with `LEEWAY` of clock skew.
- **Roles** come from the `roles` claim (Entra ID app roles). Unknown role names are
  ignored; a token with no known role is refused (403).
- **Customer.** A `customer` token names its customer in the `customer_id` claim
  (configurable). There is deliberately no fallback to `sub`: Entra ID's `sub` is a
  pairwise subject, not a bank customer number, and guessing one from the other could
  hand a caller someone else's data. A customer token may carry no other role and may not
  act for another customer (an `X-Customer-Id` naming someone else is a 403).
- **Channel.** A `channel` token acts for the customer named in its `customer_id` claim
  (a token bound to one customer) or else in the `X-Customer-Id` header; when both are
  given they must agree. The principal records that it acts for someone
  (`acting_for=True`, `subject` is the channel's own id), so the audit trail shows both.
- **Staff** (`operations`, `auditor`, `admin`) are not scoped to a customer; an
  `X-Customer-Id` header on their request is refused rather than silently ignored.

Errors are `Unauthenticated` (401: no, malformed, unverifiable or expired token),
`Forbidden` (403: a valid token that may not do this) and `KeySourceUnavailable` (503:
the JWKS could not be fetched). Their messages never contain the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scheduler.api.auth.keys import KeySource
from scheduler.api.auth.principal import (
    CUSTOMER_HEADER,
    Forbidden,
    Principal,
    Role,
    Unauthenticated,
    bearer_token,
)
from scheduler.domain import errors

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
LEEWAY = timedelta(seconds=30)
REQUIRED_CLAIMS: tuple[str, ...] = ("exp", "iss", "aud", "sub")
#: Tokens longer than this are refused before parsing (Entra ID tokens are a few KiB).
MAX_TOKEN_LENGTH = 16 * 1024
#: Longest customer id (claim or X-Customer-Id) and token subject: what the store's
#: customer_id columns hold (64). An Entra ID subject is 36 (an application's object
#: id) or 43 characters (a user's pairwise id).
MAX_ID_LENGTH = 64


_KEY_TYPES: dict[str, type[Any]] = {
    "RS256": rsa.RSAPublicKey,
    "ES256": ec.EllipticCurvePublicKey,
}


class TokenVerifier:
    """Turns a bearer token (and the `X-Customer-Id` header value) into a Principal."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        customer_claim: str = "customer_id",
        leeway: timedelta = LEEWAY,
    ) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.customer_claim = customer_claim
        self._leeway = leeway

    def authenticate(self, authorization: str | None, customer_header: str | None) -> Principal:
        """The principal for an `Authorization` header value and an `X-Customer-Id` one."""
        return self.verify(bearer_token(authorization), customer_header=customer_header)

    def verify(self, token: str, *, customer_header: str | None = None) -> Principal:
        """The principal a token proves; `customer_header` is the `X-Customer-Id` value."""
        claims = self.claims(token)
        return self._principal(claims, (customer_header or "").strip() or None)

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token` (signature, algorithm, issuer, audience, times)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("the token is too long", reason="malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the token is malformed", reason="malformed") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(
                f"the token's algorithm is not allowed (allowed: {', '.join(ALLOWED_ALGORITHMS)})",
                reason="algorithm",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no key (kid)", reason="unknown_key")
        jwk = self._keys.key_for(kid)
        # PyJWK's algorithm is the JWK's `alg`, or the one its key type implies.
        if not isinstance(jwk.key, _KEY_TYPES[algorithm]) or jwk.algorithm_name != algorithm:
            raise Unauthenticated("the token's algorithm does not fit its key", reason="algorithm")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=jwk.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet", reason="not_yet_valid") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience", reason="audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token has the wrong issuer", reason="issuer") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(
                f"the token lacks the {error.claim!r} claim", reason="missing_claim"
            ) from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature is invalid", reason="signature") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is invalid", reason="invalid") from None
        return claims

    def _principal(self, claims: Mapping[str, Any], customer_header: str | None) -> Principal:
        subject, claimed = self._ids(claims, customer_header)
        roles = _roles(claims.get("roles"))
        if not roles:
            raise Forbidden("the token carries no role this API knows", reason="no_role")
        jti = claims.get("jti")
        token_id = jti if isinstance(jti, str) else None

        if Role.CUSTOMER in roles:
            if len(roles) > 1:
                raise Forbidden("a customer token may not carry other roles", reason="roles")
            if claimed is None:
                raise Forbidden(
                    f"a customer token needs the {self.customer_claim!r} claim",
                    reason="no_customer",
                )
            if customer_header is not None and customer_header != claimed:
                raise Forbidden("a customer may not act for another customer", reason="acting")
            return Principal(subject, roles, customer_id=claimed, token_id=token_id)

        if Role.CHANNEL in roles:
            if claimed is not None and customer_header is not None and claimed != customer_header:
                raise Forbidden(
                    f"{CUSTOMER_HEADER} differs from the customer the token is bound to",
                    reason="acting",
                )
            customer = claimed or customer_header
            return Principal(
                subject,
                roles,
                customer_id=customer,
                acting_for=customer is not None,
                token_id=token_id,
            )

        if customer_header is not None or claimed is not None:
            raise Forbidden(
                f"staff requests are not scoped to a customer; do not send {CUSTOMER_HEADER}",
                reason="acting",
            )
        return Principal(subject, roles, token_id=token_id)

    def _ids(
        self, claims: Mapping[str, Any], customer_header: str | None
    ) -> tuple[str, str | None]:
        """The token's subject and customer claim, checked as strings the store can
        hold, as is the `X-Customer-Id` value."""
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("the token's subject is not a string", reason="invalid")
        claimed = claims.get(self.customer_claim)
        if claimed is not None and (not isinstance(claimed, str) or not claimed):
            raise Unauthenticated(
                f"the {self.customer_claim!r} claim is not a string", reason="invalid"
            )
        for name, value in (("subject", subject), (repr(self.customer_claim), claimed)):
            if value is not None and len(value) > MAX_ID_LENGTH:
                raise Unauthenticated(
                    f"the token's {name} is longer than {MAX_ID_LENGTH} characters",
                    reason="invalid",
                )
        if customer_header is not None and len(customer_header) > MAX_ID_LENGTH:
            raise errors.ValidationError(
                f"{CUSTOMER_HEADER} is longer than {MAX_ID_LENGTH} characters",
                field=CUSTOMER_HEADER,
            )
        return subject, claimed


def _roles(value: object) -> frozenset[Role]:
    if isinstance(value, str):  # a single role, as some issuers write it
        value = [value]
    if not isinstance(value, list):
        return frozenset()
    known = {role.value for role in Role}
    return frozenset(Role(item) for item in value if isinstance(item, str) and item in known)
