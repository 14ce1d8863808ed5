"""The execution history over HTTP: a customer's attempts only, latest first, with
filters, masked accounts and failure reasons with what to do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler import bootstrap, runner
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
