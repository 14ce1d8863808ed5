"""Schedule management over HTTP: create, read, pause, resume, cancel, with
idempotency keys, ETags, and customers kept apart."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.ports import AccountDirectoryUnavailable
from tests.support.clock import SettableClock
from tests.support.schedules import MORTGAGE
from tests.unit.api.conftest import BOBS_ACCOUNT, NOW, Headers

BOBS_MORTGAGE = MORTGAGE | {"debit_account": BOBS_ACCOUNT}


def _create(client: TestClient, headers: Headers, key: str = "k-1") -> dict[str, Any]:
    response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key=key))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _count(runtime: bootstrap.Runtime, table: sa.Table) -> int:
    with runtime.engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_create_answers_201_with_location_etag_and_the_next_executions(
    client: TestClient, headers: Headers
) -> None:
    response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))

    assert response.status_code == 201
    body = response.json()
    assert response.headers["Location"] == f"/v1/schedules/{body['id']}"
    assert response.headers["ETag"] == '"1"'
    assert (body["customer_id"], body["status"], body["version"]) == ("alice", "active", 1)
    assert body["schedule"]["amount"] == {"value": "1250.00", "currency": "GBP"}
    assert [item["execution_date"] for item in body["next_executions"]] == [
        "2027-01-29",
        "2027-02-26",
        "2027-03-31",
    ]


def test_the_same_key_and_body_replay_the_first_response_and_create_once(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    first = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))
    again = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))

    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(runtime, tables.schedule) == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    _create(client, headers)
    other = MORTGAGE | {"amount": {"value": "99.00", "currency": "GBP"}}

    response = client.post("/v1/schedules", json=other, headers=headers(key="k-1"))

    assert response.status_code == 422
    assert response.json()["type"] == "urn:tsched:problem:idempotency_key_reused"
    assert _count(runtime, tables.schedule) == 1


def test_another_customer_may_use_the_same_key(client: TestClient, headers: Headers) -> None:
    _create(client, headers)

    response = client.post(
        "/v1/schedules", json=BOBS_MORTGAGE, headers=headers(customer="bob", key="k-1")
    )

    assert response.status_code == 201
    assert response.json()["customer_id"] == "bob"


def test_a_post_without_an_idempotency_key_is_refused(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    response = client.post("/v1/schedules", json=MORTGAGE, headers=headers())

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["Idempotency-Key"]
    assert _count(runtime, tables.schedule) == 0


def test_without_a_token_nothing_is_created(client: TestClient, runtime: bootstrap.Runtime) -> None:
    response = client.post("/v1/schedules", json=MORTGAGE, headers={"Idempotency-Key": "k"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _count(runtime, tables.schedule) == 0


def test_the_owner_reads_a_schedule_with_its_etag(client: TestClient, headers: Headers) -> None:
    created = _create(client, headers)

    response = client.get(f"/v1/schedules/{created['id']}", headers=headers())

    assert (response.status_code, response.json()) == (200, created)
    assert response.headers["ETag"] == '"1"'


def test_another_customer_gets_404_for_a_schedule_that_exists(
    client: TestClient, headers: Headers
) -> None:
    created = _create(client, headers)
    path = f"/v1/schedules/{created['id']}"

    read = client.get(path, headers=headers(customer="bob"))
    cancel = client.post(f"{path}/cancel", headers=headers(customer="bob", key="k-9"))

    assert (read.status_code, cancel.status_code) == (404, 404)
    assert read.json()["type"] == "urn:tsched:problem:unknown_schedule"
    owner_view = client.get(path, headers=headers()).json()
    assert owner_view["status"] == "active"


def test_pause_resume_and_cancel_move_the_version_and_the_etag(
    client: TestClient, headers: Headers
) -> None:
    path = f"/v1/schedules/{_create(client, headers)['id']}"

    paused = client.post(f"{path}/pause", headers=headers(key="p-1", **{"If-Match": '"1"'}))
    resumed = client.post(f"{path}/resume", headers=headers(key="r-1"))
    cancelled = client.post(f"{path}/cancel", headers=headers(key="c-1"))

    assert [(r.status_code, r.json()["status"]) for r in (paused, resumed, cancelled)] == [
        (200, "paused"),
        (200, "active"),
        (200, "cancelled"),
    ]
    assert [r.headers["ETag"] for r in (paused, resumed, cancelled)] == ['"2"', '"3"', '"4"']
    assert cancelled.json()["next_executions"] == []


def test_a_stale_if_match_is_a_412_and_changes_nothing(
    client: TestClient, headers: Headers
) -> None:
    path = f"/v1/schedules/{_create(client, headers)['id']}"
    client.post(f"{path}/pause", headers=headers(key="p-1"))

    response = client.post(f"{path}/cancel", headers=headers(key="c-1", **{"If-Match": '"1"'}))

    assert response.status_code == 412
    assert response.json()["type"] == "urn:tsched:problem:stale_version"
    assert client.get(path, headers=headers()).json()["status"] == "paused"


def test_cancelling_a_cancelled_schedule_again_with_a_new_key_is_a_no_op(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    path = f"/v1/schedules/{_create(client, headers)['id']}"
    client.post(f"{path}/cancel", headers=headers(key="c-1"))
    audit_records = _count(runtime, tables.audit_record)

    response = client.post(f"{path}/cancel", headers=headers(key="c-2"))

    assert (response.status_code, response.json()["version"]) == (200, 2)
    assert _count(runtime, tables.audit_record) == audit_records


def test_resuming_a_cancelled_schedule_is_a_409_problem(
    client: TestClient, headers: Headers
) -> None:
    path = f"/v1/schedules/{_create(client, headers)['id']}"
    client.post(f"{path}/cancel", headers=headers(key="c-1"))

    response = client.post(f"{path}/resume", headers=headers(key="r-1"))

    assert response.status_code == 409
    assert response.json()["type"] == "urn:tsched:problem:schedule_not_changeable"


def test_a_channel_acts_for_the_customer_it_names_and_is_audited_as_such(
    client: TestClient, signer: DevelopmentSigner, runtime: bootstrap.Runtime
) -> None:
    token = signer.issue("mobile-app", [Role.CHANNEL])
    response = client.post(
        "/v1/schedules",
        json=MORTGAGE,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Customer-Id": "alice",
            "Idempotency-Key": "k-1",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
    )

    assert response.status_code == 201
    assert response.json()["customer_id"] == "alice"
    r = tables.audit_record.c
    with runtime.engine.connect() as connection:
        actor, correlation = connection.execute(
            sa.select(r.actor, r.correlation_id).where(r.action == "schedule.created")
        ).one()
    assert actor == "channel:mobile-app for customer:alice"
    assert correlation == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_the_list_pages_through_the_customers_own_schedules_newest_first(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    created = []
    for number in range(5):
        clock.advance_to(NOW + timedelta(minutes=number))
        created.append(_create(client, headers, key=f"k-{number}")["id"])
    client.post("/v1/schedules", json=BOBS_MORTGAGE, headers=headers(customer="bob", key="k-b"))

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/schedules", params=params, headers=headers())
        assert response.status_code == 200
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(created))
    assert pages == 3


def test_the_list_filters_by_status(client: TestClient, headers: Headers) -> None:
    active = _create(client, headers, key="k-1")["id"]
    cancelled = _create(client, headers, key="k-2")["id"]
    client.post(f"/v1/schedules/{cancelled}/cancel", headers=headers(key="c-1"))

    response = client.get("/v1/schedules", params={"status": "active"}, headers=headers())

    assert [item["id"] for item in response.json()["items"]] == [active]


def test_a_cursor_the_api_did_not_issue_is_a_422_problem(
    client: TestClient, headers: Headers
) -> None:
    response = client.get("/v1/schedules", params={"cursor": "not-a-cursor"}, headers=headers())

    assert response.status_code == 422
    assert response.json()["type"] == "urn:tsched:problem:invalid_cursor"


def test_a_debit_from_an_account_the_customer_does_not_hold_is_refused(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    for account in ("GB-DEBIT-1", "NO-SUCH-ACCOUNT"):
        document = MORTGAGE | {"debit_account": account}
        response = client.post(
            "/v1/schedules", json=document, headers=headers(customer="bob", key=account)
        )

        assert response.status_code == 422
        body = response.json()
        assert body["type"] == "urn:tsched:problem:account_not_held"
        assert body["errors"][0]["field"] == "debit_account"
    assert _count(runtime, tables.schedule) == 0


def test_an_if_match_that_is_not_an_etag_of_this_api_is_a_422_and_changes_nothing(
    client: TestClient, headers: Headers
) -> None:
    path = f"/v1/schedules/{_create(client, headers)['id']}"

    response = client.post(f"{path}/pause", headers=headers(key="p-1", **{"If-Match": "abc"}))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "If-Match"
    assert client.get(path, headers=headers()).json()["status"] == "active"


class _BooksDown:
    def holds(self, customer_id: str, account_id: str) -> bool:
        raise AccountDirectoryUnavailable("core banking answered 503 about an account")


def test_when_the_books_cannot_say_who_holds_the_account_nothing_is_created(
    runtime: bootstrap.Runtime, signer: DevelopmentSigner, headers: Headers
) -> None:
    books_down = dataclasses.replace(runtime, accounts=_BooksDown())
    with TestClient(create_app(books_down, signer.verifier())) as client:
        response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))
        again = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))

    assert response.status_code == 503
    assert response.json()["type"] == "urn:tsched:problem:account_directory_unavailable"
    assert again.status_code == 503
    assert _count(runtime, tables.schedule) == 0
    assert _count(runtime, tables.api_idempotency) == 0
