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

import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scheduler.domain.errors import SchedulerError, ValidationError

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
LEEWAY = timedelta(seconds=30)
REQUIRED_CLAIMS: tuple[str, ...] = ("exp", "iss", "aud", "sub")
CUSTOMER_HEADER = "X-Customer-Id"
#: Tokens longer than this are refused before parsing (Entra ID tokens are a few KiB).
MAX_TOKEN_LENGTH = 16 * 1024

DEV_ISSUER = "tsched-dev"
DEV_AUDIENCE = "api://tsched"
DEV_KEY_FILE = "dev-signing-key.pem"


class Role(StrEnum):
    """An Entra ID app role, as it appears in the token's `roles` claim."""

    CUSTOMER = "customer"
    CHANNEL = "channel"
    OPERATIONS = "operations"
    AUDITOR = "auditor"
    ADMIN = "admin"


# Errors -------------------------------------------------------------------------------


class AuthError(SchedulerError):
    """The caller could not be authenticated or authorised."""

    code = "auth_error"


class Unauthenticated(AuthError):
    """A valid bearer token is required."""

    code = "unauthenticated"


class Forbidden(AuthError):
    """The caller may not do this."""

    code = "forbidden"


class KeySourceUnavailable(AuthError):
    """The keys that sign tokens could not be fetched; try again shortly."""

    code = "auth_unavailable"


# The caller ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    `subject` is the token's `sub`: the customer's user, the channel's own (service
    principal) id or the staff member. `customer_id` is the customer whose data the
    request may touch: the caller itself for a customer, the customer a channel acts for
    (then `acting_for` is true), None for staff and for a channel not acting for anyone.
    `token_id` is the token's `jti`, for the audit trail.
    """

    subject: str
    roles: frozenset[Role]
    customer_id: str | None = None
    acting_for: bool = False
    token_id: str | None = None

    def has(self, *roles: Role) -> bool:
        """Whether the caller holds any of `roles`."""
        return not self.roles.isdisjoint(roles)

    def require(self, *roles: Role) -> None:
        """Raise Forbidden unless the caller holds one of `roles`."""
        if not self.has(*roles):
            raise Forbidden(
                f"needs one of the roles: {', '.join(sorted(roles))}",
                required_roles=sorted(roles),
            )

    def require_customer(self) -> str:
        """The customer this request is for; Forbidden when the caller names none."""
        if self.customer_id is None:
            raise Forbidden(f"this request must be for a customer (send {CUSTOMER_HEADER})")
        return self.customer_id


def bearer_token(authorization: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise Unauthenticated("an Authorization: Bearer token is required", reason="missing")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", reason="scheme")
    return token


# Keys ---------------------------------------------------------------------------------


class KeySource(Protocol):
    """Where verification keys come from, by key id."""

    def key_for(self, kid: str) -> jwt.PyJWK:
        """The key with id `kid`; Unauthenticated when there is none."""
        ...


def parse_jwks(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document by `kid`; others are skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        raise ValueError("a JWKS document needs a 'keys' list")
    for raw in raw_keys:
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("use", "sig") != "sig" or raw.get("kty") not in ("RSA", "EC"):
            continue
        try:
            keys[raw["kid"]] = jwt.PyJWK(raw)
        except jwt.PyJWTError as error:
            log.warning("skipping JWKS key %s: %s", raw["kid"], error)
    return keys


def _unknown_key(kid: str) -> Unauthenticated:
    return Unauthenticated("the token is signed with an unknown key", reason="unknown_key", kid=kid)


class StaticJwks:
    """Keys from a JWKS document given up front (the development signer's, tests)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._keys = parse_jwks(document)

    def key_for(self, kid: str) -> jwt.PyJWK:
        try:
            return self._keys[kid]
        except KeyError:
            raise _unknown_key(kid) from None


class JwksUrl:
    """Keys fetched from a JWKS URL (Entra ID's `jwks_uri`), cached.

    The document is fetched on first use and again after `max_age`. An unknown `kid`
    (key rollover) fetches it again at once, but not more often than `min_refresh`, so a
    stream of tokens with made-up key ids cannot make us hammer the identity provider.
    When a fetch fails and cached keys are at hand they are kept (stale beats down);
    when none are, KeySourceUnavailable. The fetch is synchronous and bounded by
    `timeout`; it is rare, so calling from a FastAPI threadpool dependency is fine.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        max_age: timedelta = timedelta(hours=1),
        min_refresh: timedelta = timedelta(seconds=30),
        client: httpx.Client | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._timeout = httpx.Timeout(timeout)
        self._max_age = max_age.total_seconds()
        self._min_refresh = min_refresh.total_seconds()
        self._client = client
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0

    def key_for(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._monotonic()
            if self._keys is None or now - self._fetched_at >= self._max_age:
                self._refresh(now)
            assert self._keys is not None  # noqa: S101 - _refresh sets it or raises
            if kid not in self._keys and now - self._fetched_at >= self._min_refresh:
                self._refresh(now)
            try:
                return self._keys[kid]
            except KeyError:
                raise _unknown_key(kid) from None

    def _refresh(self, now: float) -> None:
        try:
            self._keys = parse_jwks(self._fetch())
        except (httpx.HTTPError, ValueError) as error:
            # No token content in the message: only the URL and the failure.
            log.warning("fetching the JWKS from %s failed: %s", self.url, error)
            if self._keys is None:
                raise KeySourceUnavailable(reason="jwks_unreachable") from error
            # Keep the stale keys; try again after min_refresh, not on every request.
            self._fetched_at = max(self._fetched_at, now - self._max_age + self._min_refresh)
            return
        self._fetched_at = now

    def _fetch(self) -> Mapping[str, Any]:
        if self._client is not None:
            response = self._client.get(self.url, timeout=self._timeout)
        else:
            with httpx.Client(timeout=self._timeout) as client:
                response = client.get(self.url)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS document is not a JSON object")
        return document


# Verification -------------------------------------------------------------------------

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
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("the token's subject is not a string", reason="invalid")
        roles = _roles(claims.get("roles"))
        if not roles:
            raise Forbidden("the token carries no role this API knows", reason="no_role")
        claimed = claims.get(self.customer_claim)
        if claimed is not None and (not isinstance(claimed, str) or not claimed):
            raise Unauthenticated(
                f"the {self.customer_claim!r} claim is not a string", reason="invalid"
            )
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


def _roles(value: object) -> frozenset[Role]:
    if isinstance(value, str):  # a single role, as some issuers write it
        value = [value]
    if not isinstance(value, list):
        return frozenset()
    known = {role.value for role in Role}
    return frozenset(Role(item) for item in value if isinstance(item, str) and item in known)


# Development signer -------------------------------------------------------------------


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class DevelopmentSigner:
    """Issues RS256 tokens with a local key, kept in `key_dir/dev-signing-key.pem` (0600).

    For `tsched token` and local runs only: the issuer is `tsched-dev`, which production
    configuration never trusts.
    """

    def __init__(self, key_dir: Path, *, audience: str = DEV_AUDIENCE) -> None:
        self.key_path = Path(key_dir) / DEV_KEY_FILE
        self.issuer = DEV_ISSUER
        self.audience = audience
        self._private = _load_or_create_key(self.key_path)
        numbers = self._private.public_key().public_numbers()
        self._public_jwk = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
        canonical = json.dumps(self._public_jwk, separators=(",", ":"), sort_keys=True)
        # RFC 7638 thumbprint: stable across runs, changes when the key does.
        digest = hashlib.sha256(canonical.encode()).digest()
        self.kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(
        self,
        subject: str,
        roles: Iterable[Role | str],
        customer_id: str | None = None,
        ttl: timedelta = timedelta(hours=1),
        *,
        now: datetime | None = None,
    ) -> str:
        """A signed token for `subject` with `roles` (and `customer_id`, if given)."""
        role_names = sorted({Role(role).value for role in roles})
        if Role.CUSTOMER in role_names and not customer_id:
            raise ValidationError("a customer token needs a customer id", field="customer_id")
        issued = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl,
            "jti": str(uuid.uuid4()),
            "roles": role_names,
        }
        if customer_id:
            claims["customer_id"] = customer_id
        return jwt.encode(claims, self._private, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS document."""
        return {"keys": [{**self._public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def verifier(self) -> TokenVerifier:
        """A verifier that trusts this signer's tokens (for local runs)."""
        return TokenVerifier(StaticJwks(self.jwks()), issuer=self.issuer, audience=self.audience)


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written whole to a private temporary file, then linked into place: another
        # process starting at the same moment sees either no key or the complete one.
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(pem)
            with contextlib.suppress(FileExistsError):  # another process won: use its key
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        loaded = None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise SchedulerError(f"{path} does not hold an unencrypted RSA private key")
    return loaded
