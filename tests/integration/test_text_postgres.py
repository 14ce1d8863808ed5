"""The text rule on real PostgreSQL, whose text values cannot hold NUL: a NUL sent in a
document or a header is a 422 problem naming the field, never a 5xx, and nothing is
stored; ordinary Unicode round-trips."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.adapters.sql import migrate, tables
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.config import Settings
from scheduler.domain.money import Money
from tests.services import postgres
from tests.support.clock import SettableClock
from tests.support.schedules import MORTGAGE

pytestmark = pytest.mark.integration

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> Iterator[str]:
    with postgres.scratch_database(postgres_url, "tsched_text") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module")
def runtime(database_url: str) -> Iterator[bootstrap.Runtime]:
    """A runtime on the module's database, where Alice holds GB-DEBIT-1."""
    runtime = bootstrap.build(
        Settings(database_url=database_url), clock=SettableClock(NOW), worker="text-test"
    )
    ledger = runtime.ledger
    assert ledger is not None
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("500.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: bootstrap.Runtime, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    signer = DevelopmentSigner(tmp_path / "keys")
    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")
    # A server error is answered 500, as it would be to a client, not raised here.
    app = create_app(runtime, signer.verifier())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, token


def _rows(runtime: bootstrap.Runtime) -> dict[str, int]:
    """How many rows each table holds."""
    with runtime.engine.connect() as connection:
        return {
            table.name: int(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            for table in tables.metadata.sorted_tables
        }


@pytest.mark.parametrize(
    ("field", "document"),
    [
        ("reference", MORTGAGE | {"reference": "Rent\x00March"}),
        ("credit_account", MORTGAGE | {"credit_account": "GB-CREDIT\x00-1"}),
    ],
    ids=["reference", "credit_account"],
)
def test_a_nul_in_a_document_is_a_422_naming_the_field_not_a_server_error(
    client: tuple[TestClient, str],
    runtime: bootstrap.Runtime,
    field: str,
    document: dict[str, object],
) -> None:
    http, token = client
    before = _rows(runtime)

    response = http.post(
        "/v1/schedules",
        json=document,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{field}"},
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "urn:tsched:problem:forbidden_character"
    assert [error["field"] for error in problem["errors"]] == [field]
    assert _rows(runtime) == before


def test_a_nul_in_the_request_id_is_a_422_naming_it_not_a_server_error(
    client: tuple[TestClient, str], runtime: bootstrap.Runtime
) -> None:
    http, token = client
    before = _rows(runtime)

    response = http.post(
        "/v1/schedules",
        json=MORTGAGE,
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": "k-request-id",
            "X-Request-Id": b"req\x0042",
        },
    )

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["X-Request-Id"]
    assert _rows(runtime) == before


def test_ordinary_unicode_in_a_reference_round_trips(client: tuple[TestClient, str]) -> None:
    http, token = client
    reference = "Loyer déc. 家賃 🏠 👩‍👩‍👧 إيجار"
    headers = {"Authorization": f"Bearer {token}"}

    created = http.post(
        "/v1/schedules",
        json=MORTGAGE | {"reference": reference},
        headers=headers | {"Idempotency-Key": "k-unicode"},
    )

    assert created.status_code == 201, created.text
    read = http.get(f"/v1/schedules/{created.json()['id']}", headers=headers)
    assert read.json()["schedule"]["reference"] == reference
