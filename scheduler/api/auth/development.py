"""Development tokens: a local RSA key that signs tokens of the production shape,
for `tsched token` and for `tsched serve` without an identity provider."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from scheduler.api.auth.keys import StaticJwks
from scheduler.api.auth.principal import Role
from scheduler.api.auth.verifier import TokenVerifier
from scheduler.domain.errors import SchedulerError, ValidationError

DEV_ISSUER = "tsched-dev"
DEV_AUDIENCE = "api://tsched"
DEV_KEY_FILE = "dev-signing-key.pem"


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
