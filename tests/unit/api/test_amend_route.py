"""Amending a schedule over HTTP: PATCH with If-Match, problems for every refusal, and
nothing changed by a refused request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler import bootstrap, runner
from tests.support.clock import SettableClock
from tests.support.schedules import MORTGAGE, one_time_transfer
from tests.unit.api.conftest import Headers

NEW_AMOUNT = {"amount": {"value": "1300.00", "currency": "GBP"}}


@pytest.fixture
def mortgage(client: TestClient, headers: Headers) -> dict[str, Any]:
    response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _patch(
    client: TestClient,
    headers: Headers,
    schedule_id: str,
    change: Any,
    *,
    if_match: str | None = '"1"',
    customer: str = "alice",
) -> Any:
    extra = {"If-Match": if_match} if if_match is not None else {}
    return client.patch(
        f"/v1/schedules/{schedule_id}", json=change, headers=headers(customer=customer, **extra)
    )


def test_an_amendment_answers_the_schedule_one_version_later_with_its_new_terms(
    client: TestClient, headers: Headers, mortgage: dict[str, Any]
) -> None:
    response = _patch(
        client, headers, mortgage["id"], NEW_AMOUNT | {"time_of_day": "14:30", "reminders": []}
    )

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    body = response.json()
    assert body["version"] == 2
    assert body["schedule"]["amount"] == NEW_AMOUNT["amount"]
    assert body["schedule"]["reminders"] == []
    assert body["schedule"]["recurrence"] == MORTGAGE["recurrence"] | {
        "interval": 1,
        "weekdays": [],
        "month": None,
        "until": None,
    }
    first = body["next_executions"][0]
    assert (first["execution_date"], first["execute_at_utc"]) == (
        "2027-01-29",
        "2027-01-29T14:30:00Z",
    )
    assert client.get(f"/v1/schedules/{mortgage['id']}", headers=headers()).json() == body


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        (None, (428, "precondition_required")),
        ('"7"', (412, "stale_version")),
        ("yesterday", (422, "invalid_request")),
    ],
    ids=["missing", "stale", "malformed"],
)
def test_an_amendment_needs_the_current_etag(
    client: TestClient,
    headers: Headers,
    mortgage: dict[str, Any],
    if_match: str | None,
    expected: tuple[int, str],
) -> None:
    status, problem = expected
    response = _patch(client, headers, mortgage["id"], NEW_AMOUNT, if_match=if_match)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:tsched:problem:{problem}"
    assert client.get(f"/v1/schedules/{mortgage['id']}", headers=headers()).json() == mortgage


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": {"value": "12.345", "currency": "GBP"}}, "amount"),
        ({"amount": {"value": "10.00", "currency": "EUR"}}, "amount.currency"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"recurrence": {"frequency": "monthly", "day_of_month": 0}}, "day_of_month"),
        ({"debit_account": "GB-DEBIT-B"}, "debit_account"),
        ({"amount": None}, "amount"),
        ({}, None),
    ],
    ids=[
        "minor-units",
        "currency",
        "time-zone",
        "impossible-day",
        "account",
        "null",
        "nothing",
    ],
)
def test_an_invalid_amendment_is_a_422_problem_and_changes_nothing(
    client: TestClient,
    headers: Headers,
    mortgage: dict[str, Any],
    change: dict[str, Any],
    field: str | None,
) -> None:
    response = _patch(client, headers, mortgage["id"], change)

    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    fields = [item["field"] for item in response.json().get("errors", [])]
    assert field is None or field in fields
    assert client.get(f"/v1/schedules/{mortgage['id']}", headers=headers()).json() == mortgage


def test_another_customers_schedule_cannot_be_amended_or_even_found(
    client: TestClient, headers: Headers, mortgage: dict[str, Any]
) -> None:
    response = _patch(client, headers, mortgage["id"], NEW_AMOUNT, customer="bob")

    assert response.status_code == 404
    assert client.get(f"/v1/schedules/{mortgage['id']}", headers=headers()).json() == mortgage


def test_a_cancelled_schedule_cannot_be_amended(
    client: TestClient, headers: Headers, mortgage: dict[str, Any]
) -> None:
    cancel = client.post(
        f"/v1/schedules/{mortgage['id']}/cancel", headers=headers(key="c-1", **{"If-Match": '"1"'})
    )
    assert cancel.status_code == 200

    response = _patch(client, headers, mortgage["id"], NEW_AMOUNT, if_match='"2"')

    assert response.status_code == 409
    assert response.json()["type"] == "urn:tsched:problem:schedule_not_changeable"


def test_after_moving_the_time_on_a_payment_day_the_next_execution_shown_is_next_week(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    weekly = one_time_transfer("2027-01-05", "10.00") | {
        "kind": "recurring_payment",
        "recurrence": {"frequency": "weekly", "count": 4},
    }
    created = client.post("/v1/schedules", json=weekly, headers=headers(key="w-1")).json()
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    clock.advance_to(datetime(2027, 1, 5, 10, 0, 1, tzinfo=UTC))  # paid at 10:00 London
    while runner.run_cycle(runtime, runner.LoopSettings()).claimed:
        pass
    clock.advance_to(datetime(2027, 1, 5, 11, 0, tzinfo=UTC))

    response = _patch(client, headers, created["id"], {"time_of_day": "18:00"})

    assert response.status_code == 200, response.text
    assert [item["execute_at_utc"] for item in response.json()["next_executions"]] == [
        "2027-01-12T18:00:00Z",
        "2027-01-19T18:00:00Z",
        "2027-01-26T18:00:00Z",
    ]
