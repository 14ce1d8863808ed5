"""The history's amount range on real PostgreSQL, where amounts are NUMERIC(19, 4) and
compare as numbers: both bounds included, 100.1 equal to 100.10, 9.99 below 10.00;
and a CSV download over HTTP that reads its pages from PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bench.export_memory import seed_attempts
from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.api import history_routes
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.config import Settings
from scheduler.domain.money import Money
from scheduler.ports import HistoryQuery
from tests.services import postgres
from tests.support.amount_ranges import CASES, SEEDED
from tests.support.clock import SettableClock

pytestmark = pytest.mark.integration

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
#: Alice's attempts, as (amount, currency): text order is not numeric order here.


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> Iterator[str]:
    """A migrated database of this module's own with the SEEDED attempts of Alice and
    one of Bob's at 100.10 GBP."""
    with postgres.scratch_database(postgres_url, "tsched_history") as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        amounts = [Money.of(value, code) for value, code in SEEDED]
        seed_attempts(engine, "alice", amounts, first_finished_at=NOW)
        seed_attempts(engine, "bob", [Money.of("100.10", "GBP")], first_finished_at=NOW)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def _bounds(params: dict[str, str]) -> dict[str, Decimal | str | None]:
    return {
        "amount_min": Decimal(params["amount_min"]) if "amount_min" in params else None,
        "amount_max": Decimal(params["amount_max"]) if "amount_max" in params else None,
        "currency": params.get("currency"),
    }


@pytest.mark.parametrize(("params", "expected"), CASES)
def test_an_amount_range_compares_numerically_with_both_bounds_included(
    engine: sa.Engine, params: dict[str, str], expected: tuple[tuple[str, str], ...]
) -> None:
    query = HistoryQuery(customer_id="alice", **_bounds(params))
    with SqlUnitOfWork(engine) as uow:
        found = uow.history.page_for_customer(query, after=None, limit=100)
        counted = uow.history.count_for_customer(query, at_most=100)

    assert sorted((str(e.amount.amount), e.amount.currency.code) for e in found) == sorted(expected)
    assert counted == len(expected)


def test_a_count_stops_at_its_bound(engine: sa.Engine) -> None:
    with SqlUnitOfWork(engine) as uow:
        counted = uow.history.count_for_customer(HistoryQuery(customer_id="alice"), at_most=4)

    assert counted == 4


def test_a_csv_download_reads_its_pages_from_postgresql(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_routes, "EXPORT_PAGE_ROWS", 2)
    settings = Settings(database_url=database_url)
    runtime = bootstrap.build(settings, clock=SettableClock(NOW), worker="history-test")
    signer = DevelopmentSigner(tmp_path)
    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")
    try:
        with TestClient(create_app(runtime, signer.verifier())) as client:
            response = client.get(
                "/v1/history/export.csv",
                params={"amount_min": "9.99", "amount_max": "100.1"},
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        runtime.close()

    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert response.status_code == 200
    assert [(row["amount"], row["currency"]) for row in rows] == [
        ("100.10", "EUR"),
        ("100.10", "GBP"),
        ("10.00", "GBP"),
        ("9.99", "GBP"),
    ]
