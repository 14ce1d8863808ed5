"""The execution history over HTTP: a customer's attempts only, latest first, with
filters (amounts compared exactly), masked accounts and failure reasons with what to do."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bench.export_memory import seed_attempts
from scheduler import bootstrap, runner
from scheduler.adapters.sql.history import SqlHistoryRepository
from scheduler.domain.money import Money
from scheduler.ports import HistoryQuery
from tests.support.amount_ranges import CASES, SEEDED
from tests.support.clock import SettableClock
from tests.support.schedules import one_time_transfer
from tests.unit.api.conftest import BOBS_ACCOUNT, NOW, Headers

DUE = "2027-01-05"  # a Tuesday, 10:00 London


@pytest.fixture
def history(client: TestClient, headers: Headers, runtime: bootstrap.Runtime) -> dict[str, str]:
    """Alice pays 100.00 (succeeds) and 900.00 (insufficient funds, waits for a retry);
    Bob pays 50.00. Returns the schedule ids by name."""
    ids = {}
    for name, customer, amount in (("paid", "alice", "100.00"), ("declined", "alice", "900.00")):
        ids[name] = _create(client, headers, customer, one_time_transfer(DUE, amount), name)
    bobs = one_time_transfer(DUE, "50.00") | {"debit_account": BOBS_ACCOUNT}
    ids["bob"] = _create(client, headers, "bob", bobs, "bob")
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    clock.advance_to(NOW + timedelta(days=4))
    while runner.run_cycle(runtime, runner.LoopSettings()).claimed:
        pass
    return ids


def _create(
    client: TestClient, headers: Headers, customer: str, document: dict[str, Any], key: str
) -> str:
    response = client.post(
        "/v1/schedules", json=document, headers=headers(customer=customer, key=key)
    )
    assert response.status_code == 201, response.text
    schedule_id: str = response.json()["id"]
    return schedule_id


def test_a_customer_sees_only_their_attempts_latest_first_with_accounts_masked(
    client: TestClient, headers: Headers, history: dict[str, str]
) -> None:
    items = client.get("/v1/history", headers=headers()).json()["items"]

    assert {item["schedule_id"] for item in items} == {history["paid"], history["declined"]}
    assert [item["finished_at"] for item in items] == sorted(
        (item["finished_at"] for item in items), reverse=True
    )
    assert {(item["debit_account"], item["credit_account"]) for item in items} == {
        ("****IT-1", "****IT-1")
    }


def test_a_failed_attempt_says_why_and_what_to_do(
    client: TestClient, headers: Headers, history: dict[str, str]
) -> None:
    items = client.get(
        "/v1/history", params={"schedule_id": history["declined"]}, headers=headers()
    ).json()["items"]

    assert [(item["status"], item["error_code"]) for item in items] == [
        ("retry_wait", "insufficient_funds")
    ]
    assert items[0]["amount"] == {"value": "900.00", "currency": "GBP"}


def test_the_history_filters_by_status_and_pages_with_a_cursor(
    client: TestClient, headers: Headers, history: dict[str, str]
) -> None:
    succeeded = client.get("/v1/history", params={"status": "succeeded"}, headers=headers()).json()[
        "items"
    ]
    first = client.get("/v1/history", params={"limit": "1"}, headers=headers()).json()
    second = client.get(
        "/v1/history", params={"limit": "1", "cursor": first["next_cursor"]}, headers=headers()
    ).json()

    assert [item["schedule_id"] for item in succeeded] == [history["paid"]]
    assert first["next_cursor"] is not None
    assert second["next_cursor"] is None
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {
        item["id"] for item in client.get("/v1/history", headers=headers()).json()["items"]
    }


def test_a_time_range_without_an_offset_is_a_422_problem(
    client: TestClient, headers: Headers, history: dict[str, str]
) -> None:
    response = client.get("/v1/history", params={"from": "2027-01-05T00:00:00"}, headers=headers())

    assert response.status_code == 422
    assert response.json()["type"] == "urn:tsched:problem:naive_datetime"


def test_a_time_range_selects_attempts_finished_in_it(
    client: TestClient, headers: Headers, history: dict[str, str]
) -> None:
    before = client.get(
        "/v1/history", params={"to": "2027-01-05T00:00:00Z"}, headers=headers()
    ).json()["items"]
    after = client.get(
        "/v1/history", params={"from": "2027-01-05T00:00:00Z"}, headers=headers()
    ).json()["items"]

    assert (len(before), len(after)) == (0, 2)


#: Alice's seeded attempts, as (amount, currency): amounts whose text order is not their
#: numeric order ("9.99" > "10.00" > "1000.00"), one in another currency.


@pytest.fixture
def amounts(runtime: bootstrap.Runtime) -> None:
    """Alice's attempts at the SEEDED amounts, and one of Bob's at 100.10 GBP."""
    seed_attempts(
        runtime.engine,
        "alice",
        [Money.of(value, code) for value, code in SEEDED],
        first_finished_at=NOW,
    )
    seed_attempts(runtime.engine, "bob", [Money.of("100.10", "GBP")], first_finished_at=NOW)


@pytest.mark.parametrize(("params", "expected"), CASES)
def test_an_amount_range_selects_exactly_with_both_bounds_included(
    client: TestClient,
    headers: Headers,
    amounts: None,
    params: dict[str, str],
    expected: tuple[tuple[str, str], ...],
) -> None:
    items = client.get("/v1/history", params=params, headers=headers()).json()["items"]

    assert sorted(
        (item["amount"]["value"], item["amount"]["currency"]) for item in items
    ) == sorted(expected)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount_min": "ten"}, "amount_min"),
        ({"amount_min": "1e3"}, "amount_min"),
        ({"amount_min": "0x10"}, "amount_min"),
        ({"amount_max": "12."}, "amount_max"),
        ({"amount_max": "-1.00"}, "amount_max"),
        ({"amount_min": "10.01", "amount_max": "10.00"}, "amount_min"),
        ({"amount_min": "1" * 33}, "amount_min"),
        ({"currency": "gbp"}, "currency"),
    ],
)
def test_an_invalid_amount_range_is_a_422_problem_naming_the_parameter(
    client: TestClient, headers: Headers, params: dict[str, str], field: str
) -> None:
    response = client.get("/v1/history", params=params, headers=headers())

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("url", "where"),
    [
        (
            "mssql+pyodbc://",
            "execution_attempt.customer_id = :customer_id_1"
            " AND execution_attempt.amount >= :param_2"
            " AND execution_attempt.amount <= :param_3",
        ),
        (
            "postgresql+psycopg://",
            "execution_attempt.customer_id = %(customer_id_1)s::VARCHAR"
            " AND execution_attempt.amount >= %(param_1)s"
            " AND execution_attempt.amount <= %(param_2)s",
        ),
        (
            "sqlite://",
            "execution_attempt.customer_id = ?"
            " AND tsched_compare_amounts(execution_attempt.amount, ?) >= ?"
            " AND tsched_compare_amounts(execution_attempt.amount, ?) <= ?",
        ),
    ],
)
def test_only_sqlite_compares_amounts_through_the_decimal_function(url: str, where: str) -> None:
    """Compiled, not run: SQL Server cannot run here."""
    statements: list[Any] = []

    def execute(statement: Any, *_args: Any, **_kwargs: Any) -> list[Any]:
        statements.append(statement)
        return []

    engine = sa.create_mock_engine(url, execute)

    SqlHistoryRepository(engine).page_for_customer(  # type: ignore[arg-type]
        HistoryQuery(customer_id="alice", amount_min=Decimal("9.99"), amount_max=Decimal("100.1")),
        after=None,
        limit=10,
    )

    compiled = " ".join(str(statements[0].compile(dialect=engine.dialect)).split())
    assert compiled.split(" WHERE ")[1].split(" ORDER BY ")[0] == where
