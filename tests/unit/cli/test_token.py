"""`tsched token`: development tokens that the API's verifier accepts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest

from scheduler.api.auth import DevelopmentSigner, Role, StaticJwks, TokenVerifier
from tests.support.cli import run


def test_a_customer_token_round_trips_through_the_verifier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(
        capsys, "token", "--role", "customer", "--customer", "alice", "--key-dir", str(tmp_path)
    )

    assert (status, err) == (0, "")
    principal = DevelopmentSigner(tmp_path).verifier().verify(out.strip())
    assert principal.subject == "alice"
    assert principal.roles == {Role.CUSTOMER}
    assert principal.customer_id == "alice"


def test_the_printed_jwks_verifies_the_printed_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key_dir = str(tmp_path / "keys")
    _, token, _ = run(capsys, "token", "--role", "channel", "--key-dir", key_dir)
    status, jwks, _ = run(capsys, "token", "--jwks", "--key-dir", key_dir)

    assert status == 0
    verifier = TokenVerifier(
        StaticJwks(json.loads(jwks)), issuer="tsched-dev", audience="api://tsched"
    )
    principal = verifier.verify(token.strip(), customer_header="bob")
    assert (principal.subject, principal.customer_id, principal.acting_for) == (
        "dev-channel",
        "bob",
        True,
    )


def test_ttl_roles_and_audience(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out, _ = run(
        capsys,
        "token",
        "--role",
        "operations",
        "--role",
        "auditor",
        "--ttl",
        "60",
        "--audience",
        "api://other",
        "--key-dir",
        str(tmp_path),
    )

    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert claims["roles"] == ["auditor", "operations"]
    assert claims["aud"] == "api://other"
    assert "customer_id" not in claims


def test_the_key_file_is_created_private(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key_dir = tmp_path / ".tsched"
    run(capsys, "token", "--role", "admin", "--key-dir", str(key_dir))

    assert stat.S_IMODE((key_dir / "dev-signing-key.pem").stat().st_mode) == 0o600


def test_a_customer_token_without_a_customer_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(capsys, "token", "--key-dir", str(tmp_path))

    assert status == 2
    assert out == ""
    assert "customer" in err


def test_an_unknown_role_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "token", "--role", "root", "--key-dir", str(tmp_path))

    assert exit_.value.code == 2
