"""Bearer-token verification with real keys and signatures: what is accepted, what is
refused and why, and the JWKS fetched over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from scheduler.api import problems
from scheduler.api.auth import (
    DevelopmentSigner,
    Forbidden,
    JwksUrl,
    KeySourceUnavailable,
    Principal,
    Role,
    StaticJwks,
    TokenVerifier,
    Unauthenticated,
    bearer_token,
)
from scheduler.domain.errors import SchedulerError, ValidationError

ISSUER = "https://login.example/tenant/v2.0"
AUDIENCE = "api://tsched-test"


class Key:
    """A signing key with its kid, and its public half as a JWK."""

    def __init__(self, kid: str, algorithm: str = "RS256") -> None:
        self.kid = kid
        self.algorithm = algorithm
        if algorithm == "RS256":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk: dict[str, Any] = {**jwk, "kid": kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header}
        )


def claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-alice",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=10),
        "jti": "token-1",
        "roles": ["customer"],
        "customer_id": "alice",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token put together by hand, to send what no library would sign."""
    body = {
        name: int(value.timestamp()) if isinstance(value, datetime) else value
        for name, value in payload.items()
    }
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(body).encode())
    return head + "." + _b64(signature)


def hmac_signed(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    token = unsigned(header, payload)
    signing_input = token.rsplit(".", 1)[0].encode()
    return token + _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())


@pytest.fixture(scope="module")
def key() -> Key:
    return Key("key-1")


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return Key("key-ec", "ES256")


@pytest.fixture(scope="module")
def verifier(key: Key, ec_key: Key) -> TokenVerifier:
    return TokenVerifier(
        StaticJwks({"keys": [key.jwk, ec_key.jwk]}), issuer=ISSUER, audience=AUDIENCE
    )


def refused(verifier: TokenVerifier, token: str, **kwargs: Any) -> SchedulerError:
    """The error verifying `token` raises, checked not to leak the token."""
    with pytest.raises(SchedulerError) as caught:
        verifier.verify(token, **kwargs)
    error = caught.value
    if len(token) > 8:
        assert token not in str(error)
        assert token not in json.dumps(error.details, default=str)
    return error


# Accepted -----------------------------------------------------------------------------


def test_a_valid_customer_token_gives_the_customer_principal(
    verifier: TokenVerifier, key: Key
) -> None:
    principal = verifier.verify(key.sign(claims()))

    assert principal == Principal(
        subject="user-alice",
        roles=frozenset({Role.CUSTOMER}),
        customer_id="alice",
        acting_for=False,
        token_id="token-1",
    )


def test_an_es256_token_is_accepted(verifier: TokenVerifier, ec_key: Key) -> None:
    assert verifier.verify(ec_key.sign(claims())).customer_id == "alice"


def test_authenticate_reads_the_authorization_header(verifier: TokenVerifier, key: Key) -> None:
    principal = verifier.authenticate(f"Bearer {key.sign(claims())}", "alice")

    assert principal.customer_id == "alice"


def test_clock_skew_within_the_leeway_is_tolerated(verifier: TokenVerifier, key: Key) -> None:
    now = datetime.now(UTC)
    token = key.sign(claims(exp=now - timedelta(seconds=5), nbf=now + timedelta(seconds=5)))

    assert verifier.verify(token).subject == "user-alice"


def test_unknown_roles_are_ignored(verifier: TokenVerifier, key: Key) -> None:
    token = key.sign(claims(roles=["operations", "Something.Else"], customer_id=None))

    assert verifier.verify(token).roles == {Role.OPERATIONS}


# Refused: the token itself ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        # Times as offsets from when the test runs, not from when it was collected: a
        # long run would otherwise reach them first.
        pytest.param({"exp": timedelta(minutes=-5)}, "expired", id="expired"),
        pytest.param({"nbf": timedelta(minutes=5)}, "not_yet_valid", id="not-yet-valid"),
        pytest.param({"iss": "https://evil.example/"}, "issuer", id="wrong-issuer"),
        pytest.param({"aud": "api://someone-else"}, "audience", id="wrong-audience"),
        pytest.param({"exp": None}, "missing_claim", id="no-exp"),
        pytest.param({"sub": None}, "missing_claim", id="no-sub"),
        pytest.param({"aud": None}, "missing_claim", id="no-aud"),
    ],
)
def test_claims_are_checked(
    verifier: TokenVerifier, key: Key, overrides: dict[str, Any], reason: str
) -> None:
    now = datetime.now(UTC)
    values = {
        name: now + value if isinstance(value, timedelta) else value
        for name, value in overrides.items()
    }
    error = refused(verifier, key.sign(claims(**values)))

    assert isinstance(error, Unauthenticated)
    assert error.code == "unauthenticated"
    assert error.details["reason"] == reason


def test_a_signature_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    impostor = Key("key-1")  # same kid, different key

    error = refused(verifier, impostor.sign(claims()))

    assert isinstance(error, Unauthenticated)
    assert error.details["reason"] == "signature"


def test_an_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    error = refused(verifier, Key("key-2").sign(claims()))

    assert isinstance(error, Unauthenticated)
    assert error.details["reason"] == "unknown_key"


def test_a_token_without_kid_is_refused(verifier: TokenVerifier, key: Key) -> None:
    token = jwt.encode(claims(), key.private, algorithm="RS256")

    assert refused(verifier, token).details["reason"] == "unknown_key"


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    for alg in ("none", "None", "NONE"):
        token = unsigned({"alg": alg, "typ": "JWT", "kid": "key-1"}, claims())

        error = refused(verifier, token)

        assert isinstance(error, Unauthenticated)
        assert error.details["reason"] == "algorithm"


def test_hs256_is_refused(verifier: TokenVerifier) -> None:
    token = hmac_signed(b"a shared secret", {"alg": "HS256", "kid": "key-1"}, claims())

    assert refused(verifier, token).details["reason"] == "algorithm"


def test_hs_rs_confusion_is_refused(verifier: TokenVerifier, key: Key) -> None:
    """HMAC-signed with the RSA public key (which anyone can fetch) as the secret."""
    for secret in (key.public_pem(), json.dumps(key.jwk).encode()):
        token = hmac_signed(secret, {"alg": "HS256", "typ": "JWT", "kid": "key-1"}, claims())

        error = refused(verifier, token)

        assert isinstance(error, Unauthenticated)
        assert error.details["reason"] == "algorithm"


def test_an_algorithm_that_does_not_fit_the_key_is_refused(
    verifier: TokenVerifier, key: Key, ec_key: Key
) -> None:
    """An EC-signed token naming the RSA key's kid."""
    token = jwt.encode(claims(), ec_key.private, algorithm="ES256", headers={"kid": key.kid})

    assert refused(verifier, token).details["reason"] == "algorithm"


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", "x" * 20_000],
)
def test_a_malformed_token_is_refused(verifier: TokenVerifier, token: str) -> None:
    error = refused(verifier, token)

    assert isinstance(error, Unauthenticated)
    assert error.details["reason"] == "malformed"


def test_a_tampered_payload_is_refused(verifier: TokenVerifier, key: Key) -> None:
    header, _payload, signature = key.sign(claims()).split(".")
    forged = unsigned({}, claims(customer_id="bob")).split(".")[1]

    error = refused(verifier, f"{header}.{forged}.{signature}")

    assert isinstance(error, Unauthenticated)


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "],
)
def test_the_authorization_header_must_be_bearer(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(header)


# Refused: a valid token that may not do this ------------------------------------------


def test_a_token_without_roles_is_forbidden(verifier: TokenVerifier, key: Key) -> None:
    for roles in (None, [], ["Reader"], "nonsense"):
        error = refused(verifier, key.sign(claims(roles=roles)))

        assert isinstance(error, Forbidden)
        assert error.code == "forbidden"
        assert error.details["reason"] == "no_role"


def test_a_customer_token_needs_its_customer_claim(verifier: TokenVerifier, key: Key) -> None:
    """No fallback to `sub`: a subject is not a customer number."""
    error = refused(verifier, key.sign(claims(customer_id=None)))

    assert isinstance(error, Forbidden)
    assert error.details["reason"] == "no_customer"


def test_a_customer_cannot_act_for_another_customer(verifier: TokenVerifier, key: Key) -> None:
    token = key.sign(claims())

    error = refused(verifier, token, customer_header="bob")

    assert isinstance(error, Forbidden)
    assert error.details["reason"] == "acting"
    assert verifier.verify(token, customer_header="alice").customer_id == "alice"


def test_a_customer_token_with_other_roles_is_forbidden(verifier: TokenVerifier, key: Key) -> None:
    error = refused(verifier, key.sign(claims(roles=["customer", "admin"])))

    assert isinstance(error, Forbidden)


def test_a_channel_acts_for_the_customer_in_the_header(verifier: TokenVerifier, key: Key) -> None:
    token = key.sign(claims(sub="channel-mobile", roles=["channel"], customer_id=None))

    principal = verifier.verify(token, customer_header="bob")

    assert principal == Principal(
        subject="channel-mobile",
        roles=frozenset({Role.CHANNEL}),
        customer_id="bob",
        acting_for=True,
        token_id="token-1",
    )


def test_a_channel_not_acting_for_anyone_has_no_customer(verifier: TokenVerifier, key: Key) -> None:
    token = key.sign(claims(sub="channel-mobile", roles=["channel"], customer_id=None))

    principal = verifier.verify(token)

    assert principal.customer_id is None
    assert not principal.acting_for
    with pytest.raises(Forbidden):
        principal.require_customer()


def test_a_channel_token_bound_to_a_customer(verifier: TokenVerifier, key: Key) -> None:
    token = key.sign(claims(sub="channel-branch", roles=["channel"], customer_id="carol"))

    principal = verifier.verify(token)
    assert (principal.customer_id, principal.acting_for) == ("carol", True)
    assert verifier.verify(token, customer_header="carol").customer_id == "carol"
    assert isinstance(refused(verifier, token, customer_header="bob"), Forbidden)


def test_staff_are_not_scoped_to_a_customer(verifier: TokenVerifier, key: Key) -> None:
    token = key.sign(claims(sub="ops-1", roles=["operations", "auditor"], customer_id=None))

    principal = verifier.verify(token)

    assert principal.customer_id is None
    assert principal.has(Role.AUDITOR)
    principal.require(Role.OPERATIONS, Role.ADMIN)
    with pytest.raises(Forbidden):
        principal.require(Role.ADMIN)
    assert isinstance(refused(verifier, token, customer_header="alice"), Forbidden)


def test_the_customer_claim_is_configurable(key: Key) -> None:
    verifier = TokenVerifier(
        StaticJwks({"keys": [key.jwk]}),
        issuer=ISSUER,
        audience=AUDIENCE,
        customer_claim="extension_customerNumber",
    )
    token = key.sign(claims(customer_id=None, extension_customerNumber="C-42"))

    assert verifier.verify(token).customer_id == "C-42"


# The JWKS fetched by URL --------------------------------------------------------------


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up waiting (the timeout tests) is expected."""


class JwksServer:
    """A local HTTP server publishing a JWKS document the test can change."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.requests = 0
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                time.sleep(server.delay)
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/discovery/keys"


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    thread.join(timeout=5)


def test_keys_are_fetched_once_and_cached(jwks_server: JwksServer, key: Key) -> None:
    jwks_server.document = {"keys": [key.jwk]}
    verifier = TokenVerifier(JwksUrl(jwks_server.url), issuer=ISSUER, audience=AUDIENCE)

    for _ in range(3):
        assert verifier.verify(key.sign(claims())).customer_id == "alice"

    assert jwks_server.requests == 1


def test_an_unknown_kid_fetches_the_keys_again(jwks_server: JwksServer, key: Key) -> None:
    jwks_server.document = {"keys": [key.jwk]}
    clock = [1000.0]
    source = JwksUrl(jwks_server.url, min_refresh=timedelta(seconds=30), monotonic=lambda: clock[0])
    verifier = TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE)
    verifier.verify(key.sign(claims()))
    rolled = Key("key-rolled")
    jwks_server.document = {"keys": [key.jwk, rolled.jwk]}

    # Within min_refresh of the last fetch, an unknown kid does not fetch again.
    assert refused(verifier, rolled.sign(claims())).details["reason"] == "unknown_key"
    assert jwks_server.requests == 1

    clock[0] += 31
    assert verifier.verify(rolled.sign(claims())).customer_id == "alice"
    assert jwks_server.requests == 2

    clock[0] += 31  # a made-up kid: one fetch, then refused
    assert refused(verifier, Key("made-up").sign(claims())).details["reason"] == "unknown_key"
    assert refused(verifier, Key("made-up-2").sign(claims())).details["reason"] == "unknown_key"
    assert jwks_server.requests == 3


def test_stale_keys_are_kept_when_a_refresh_fails(jwks_server: JwksServer, key: Key) -> None:
    jwks_server.document = {"keys": [key.jwk]}
    clock = [1000.0]
    source = JwksUrl(
        jwks_server.url, timeout=0.2, max_age=timedelta(minutes=5), monotonic=lambda: clock[0]
    )
    verifier = TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE)
    verifier.verify(key.sign(claims()))
    jwks_server.delay = 1.0
    clock[0] += 600

    assert verifier.verify(key.sign(claims())).customer_id == "alice"


def test_a_jwks_server_that_does_not_answer_in_time(jwks_server: JwksServer, key: Key) -> None:
    jwks_server.document = {"keys": [key.jwk]}
    jwks_server.delay = 2.0
    verifier = TokenVerifier(
        JwksUrl(jwks_server.url, timeout=0.2), issuer=ISSUER, audience=AUDIENCE
    )
    started = time.monotonic()

    error = refused(verifier, key.sign(claims()))

    assert time.monotonic() - started < 1.5
    assert isinstance(error, KeySourceUnavailable)
    assert error.code == "auth_unavailable"
    assert problems.status_of(error) == 503


def test_an_unreachable_jwks_server(key: Key) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verifier = TokenVerifier(
        JwksUrl(f"http://127.0.0.1:{port}/keys", timeout=1.0), issuer=ISSUER, audience=AUDIENCE
    )

    assert isinstance(refused(verifier, key.sign(claims())), KeySourceUnavailable)


def test_keys_that_cannot_sign_are_not_used(key: Key) -> None:
    document = {
        "keys": [
            {"kty": "oct", "kid": "secret", "k": _b64(b"a shared secret")},
            {**key.jwk, "kid": "for-encryption", "use": "enc"},
            key.jwk,
        ]
    }
    verifier = TokenVerifier(StaticJwks(document), issuer=ISSUER, audience=AUDIENCE)

    assert verifier.verify(key.sign(claims())).customer_id == "alice"
    secret_token = hmac_signed(b"a shared secret", {"alg": "HS256", "kid": "secret"}, claims())
    assert isinstance(refused(verifier, secret_token), Unauthenticated)
    assert isinstance(refused(verifier, Key("for-encryption").sign(claims())), Unauthenticated)


# The development signer ---------------------------------------------------------------


def test_the_development_signer_round_trips(tmp_path: Path) -> None:
    signer = DevelopmentSigner(tmp_path / ".tsched")

    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")
    principal = signer.verifier().verify(token)

    assert principal.subject == "alice"
    assert principal.roles == {Role.CUSTOMER}
    assert principal.customer_id == "alice"
    assert principal.token_id
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("RS256", signer.kid)
    unverified = jwt.decode(token, options={"verify_signature": False})
    assert (unverified["iss"], unverified["aud"]) == ("tsched-dev", "api://tsched")


def test_the_key_file_is_private_and_reused(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    first = DevelopmentSigner(key_dir)

    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert [path.name for path in key_dir.iterdir()] == ["dev-signing-key.pem"]
    second = DevelopmentSigner(key_dir)
    assert second.kid == first.kid
    assert second.verifier().verify(first.issue("ops", ["operations"])).roles == {Role.OPERATIONS}


def test_development_tokens_expire(tmp_path: Path) -> None:
    signer = DevelopmentSigner(tmp_path)
    token = signer.issue(
        "alice",
        ["customer"],
        "alice",
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC) - timedelta(hours=1),
    )

    assert refused(signer.verifier(), token).details["reason"] == "expired"


def test_another_audience_is_another_verifier(tmp_path: Path) -> None:
    token = DevelopmentSigner(tmp_path, audience="api://other").issue("ops", ["admin"])

    error = refused(DevelopmentSigner(tmp_path).verifier(), token)

    assert error.details["reason"] == "audience"


def test_a_customer_token_needs_a_customer(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        DevelopmentSigner(tmp_path).issue("alice", [Role.CUSTOMER])


def test_a_damaged_key_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "dev-signing-key.pem").write_text("not a key")

    with pytest.raises(SchedulerError, match="RSA private key"):
        DevelopmentSigner(tmp_path)


# Ids the store cannot hold ------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{"sub": "s" * 65}, {"customer_id": "c" * 65}],
    ids=["subject", "customer claim"],
)
def test_an_id_longer_than_the_store_holds_is_refused_as_an_invalid_token(
    verifier: TokenVerifier, key: Key, overrides: dict[str, Any]
) -> None:
    error = refused(verifier, key.sign(claims(**overrides)))

    assert isinstance(error, Unauthenticated)
    assert "longer than 64 characters" in error.message


def test_a_customer_header_longer_than_the_store_holds_is_a_validation_error(
    verifier: TokenVerifier, key: Key
) -> None:
    token = key.sign(claims(roles=["channel"], customer_id=None))

    error = refused(verifier, token, customer_header="c" * 65)

    assert isinstance(error, ValidationError)
    assert error.field == "X-Customer-Id"
    assert verifier.verify(token, customer_header="c" * 64).customer_id == "c" * 64
