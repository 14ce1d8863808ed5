"""The operations staff routes over HTTP: failed and dead operations of every customer
(audited), and re-driving one, idempotently, until the money moves once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scheduler import bootstrap, runner
from scheduler.adapters.sql import tables
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.api.staff_schemas import StoppedStatus
from scheduler.domain.money import Money
from scheduler.domain.retry import RECOMMENDED_ACTIONS, RetryPolicy
from scheduler.service.claim_due import claim_due
from scheduler.service.redrive_operation import REDRIVABLE
from tests.support.clock import SettableClock
from tests.support.schedules import one_time_transfer
from tests.unit.api.conftest import BOBS_ACCOUNT, Headers

LEASE = timedelta(seconds=60)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
#: Sunday 10 January 2027: every transfer below has settled by then.
SETTLED = datetime(2027, 1, 10, tzinfo=UTC)
NOWHERE = "GB-NOWHERE-1"

#: Makes a staff member's headers: (role=operations, subject="ops-1", key=None, **extra).
StaffHeaders = Callable[..., dict[str, str]]


@pytest.fixture
def staff(signer: DevelopmentSigner) -> StaffHeaders:
    def make(
        role: Role = Role.OPERATIONS, subject: str = "ops-1", key: str | None = None, **extra: str
    ) -> dict[str, str]:
        result = {"Authorization": f"Bearer {signer.issue(subject, [role])}", **extra}
        if key is not None:
            result["Idempotency-Key"] = key
        return result

    return make


@pytest.fixture
def stopped(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> dict[str, dict[str, str]]:
    """Run by the real dispatcher:

    - Bob's 20.00 of Monday 4 January: workers kept dying while executing it, so it is
      DEAD (claimed too often) at 10:08;
    - Alice's 10.00 of Tuesday 5 January to an account the ledger does not have: FAILED
      at once at 10:00;
    - Alice's 900.00 of Tuesday 5 January from 500.00: declined that day, then on the
      next two business mornings: FAILED on Thursday 7 January at 08:00;
    - Alice's 100.00 of Tuesday 5 January: succeeded.

    Returns each one's schedule and (execution) operation id by name."""
    documents = {
        "crashed": (
            "bob",
            one_time_transfer("2027-01-04", "20.00") | {"debit_account": BOBS_ACCOUNT},
        ),
        "unknown": (
            "alice",
            one_time_transfer("2027-01-05", "10.00") | {"credit_account": NOWHERE},
        ),
        "declined": ("alice", one_time_transfer("2027-01-05", "900.00")),
        "paid": ("alice", one_time_transfer("2027-01-05", "100.00")),
    }
    created = {}
    for name, (customer, document) in documents.items():
        response = client.post(
            "/v1/schedules", json=document, headers=headers(customer=customer, key=name)
        )
        assert response.status_code == 201, response.text
        created[name] = response.json()["id"]
    clock = _clock(runtime)
    clock.advance_to(datetime(2027, 1, 4, 10, 0, tzinfo=UTC))
    for _ in range(RetryPolicy().max_transient_attempts):
        claim_due(uow=runtime.unit_of_work(), clock=clock, worker="dying", limit=10, lease=LEASE)
        clock.advance_to(clock.now() + LEASE)
    _drive(runtime, SETTLED)
    ids = {
        name: {"schedule": created[name], "operation": _execution(runtime, created[name])}
        for name in created
    }
    assert _statuses(runtime) == {
        ids["crashed"]["operation"]: "dead",
        ids["unknown"]["operation"]: "failed",
        ids["declined"]["operation"]: "failed",
        ids["paid"]["operation"]: "succeeded",
    }
    return ids


def _clock(runtime: bootstrap.Runtime) -> SettableClock:
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    return clock


def _drive(runtime: bootstrap.Runtime, until: datetime) -> None:
    """Run dispatcher passes at each due time up to `until`."""
    clock = _clock(runtime)
    while True:
        with runtime.unit_of_work() as uow:
            due = uow.operations.next_due_at()
        if due is None or due > until:
            return
        clock.advance_to(max(due, clock.now()))
        runner.run_cycle(runtime, runner.LoopSettings())


def _rows(runtime: bootstrap.Runtime, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    with runtime.engine.connect() as connection:
        return list(connection.execute(query))


def _execution(runtime: bootstrap.Runtime, schedule_id: str) -> str:
    t = tables.operation
    [row] = _rows(runtime, sa.select(t.c.id).where(t.c.schedule_id == uuid.UUID(schedule_id)))
    return str(row.id)


def _statuses(runtime: bootstrap.Runtime) -> dict[str, str]:
    t = tables.operation
    return {str(row.id): row.status for row in _rows(runtime, sa.select(t.c.id, t.c.status))}


def _audit(runtime: bootstrap.Runtime, action: str) -> list[sa.Row[Any]]:
    t = tables.audit_record
    return _rows(runtime, sa.select(t).where(t.c.action == action).order_by(t.c.seq))


def _bookings(runtime: bootstrap.Runtime, operation_id: str) -> int:
    t = tables.ledger_entry
    return len(_rows(runtime, sa.select(t.c.id).where(t.c.idempotency_key == operation_id)))


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- the listing ------------------------------------------------------------------------


def test_staff_see_failed_and_dead_operations_of_every_customer_latest_change_first(
    client: TestClient, staff: StaffHeaders, stopped: dict[str, dict[str, str]]
) -> None:
    response = client.get("/v1/operations", headers=staff())

    items = response.json()["items"]
    assert [item["id"] for item in items] == [
        stopped[name]["operation"] for name in ("declined", "unknown", "crashed")
    ]
    declined = items[0]
    assert declined == {
        "id": stopped["declined"]["operation"],
        "schedule_id": stopped["declined"]["schedule"],
        "customer_id": "alice",
        "kind": "execution",
        "occurrence_index": 0,
        "due_at": "2027-01-05T10:00:00Z",
        "status": "failed",
        "attempts": 3,
        "amount": {"value": "900.00", "currency": "GBP"},
        "debit_account": "****IT-1",
        "credit_account": "****IT-1",
        "error_code": "insufficient_funds",
        "reason": declined["reason"],
        "recommended_action": RECOMMENDED_ACTIONS["insufficient_funds"],
        "updated_at": "2027-01-07T08:00:00Z",
    }
    assert [(item["customer_id"], item["status"], item["error_code"]) for item in items[1:]] == [
        ("alice", "failed", "unknown_account"),
        ("bob", "dead", "attempts_exhausted"),
    ]
    assert items[2]["recommended_action"] == RECOMMENDED_ACTIONS["attempts_exhausted"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "dead"}, ["crashed"]),
        ({"status": ["failed", "dead"], "customer_id": "bob"}, ["crashed"]),
        ({"status": "failed", "customer_id": "alice"}, ["declined", "unknown"]),
        ({"customer_id": "carol"}, []),
    ],
)
def test_the_listing_filters_by_status_and_customer(
    client: TestClient,
    staff: StaffHeaders,
    stopped: dict[str, dict[str, str]],
    params: dict[str, Any],
    expected: list[str],
) -> None:
    response = client.get("/v1/operations", params=params, headers=staff())

    assert _ids(response) == [stopped[name]["operation"] for name in expected]


def test_the_listing_filters_by_schedule(
    client: TestClient, staff: StaffHeaders, stopped: dict[str, dict[str, str]]
) -> None:
    params = {"schedule_id": stopped["unknown"]["schedule"]}

    response = client.get("/v1/operations", params=params, headers=staff())

    assert _ids(response) == [stopped["unknown"]["operation"]]


def test_the_listing_pages_with_a_cursor(
    client: TestClient, staff: StaffHeaders, stopped: dict[str, dict[str, str]]
) -> None:
    first = client.get("/v1/operations", params={"limit": 2}, headers=staff()).json()
    second = client.get(
        "/v1/operations", params={"limit": 2, "cursor": first["next_cursor"]}, headers=staff()
    ).json()

    assert [item["id"] for item in first["items"] + second["items"]] == [
        stopped[name]["operation"] for name in ("declined", "unknown", "crashed")
    ]
    assert second["next_cursor"] is None


def test_operations_that_stopped_at_the_same_instant_page_apart_by_id(
    client: TestClient, headers: Headers, staff: StaffHeaders, runtime: bootstrap.Runtime
) -> None:
    for key in ("a", "b", "c"):
        document = one_time_transfer("2027-01-05", "10.00") | {"credit_account": NOWHERE}
        assert client.post("/v1/schedules", json=document, headers=headers(key=key)).is_success
    _drive(runtime, SETTLED)
    everything = _ids(client.get("/v1/operations", headers=staff()))

    paged, cursor = [], None
    for _ in everything:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/operations", params=params, headers=staff()).json()
        paged += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]

    assert len(set(everything)) == 3
    assert (paged, cursor) == (everything, None)


@pytest.mark.parametrize("status", ["succeeded", "pending", "retry_wait"])
def test_only_failed_and_dead_operations_may_be_listed(
    client: TestClient, staff: StaffHeaders, status: str
) -> None:
    response = client.get("/v1/operations", params={"status": status}, headers=staff())

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status.0"


def test_the_listable_statuses_are_the_re_drivable_ones() -> None:
    assert set(get_args(StoppedStatus)) == {status.value for status in REDRIVABLE}


def test_a_listing_is_audited_with_the_actor_correlation_id_and_filters(
    client: TestClient,
    staff: StaffHeaders,
    runtime: bootstrap.Runtime,
    stopped: dict[str, dict[str, str]],
) -> None:
    client.get(
        "/v1/operations",
        params={"customer_id": "alice", "limit": 5},
        headers=staff(traceparent=TRACEPARENT),
    )

    [record] = _audit(runtime, "operations.listed")
    assert (record.actor, record.correlation_id, record.customer_id) == (
        "staff:ops-1",
        TRACE_ID,
        "alice",
    )
    assert (record.subject_type, record.subject_id) == ("operation", "*")
    assert record.details == {
        "filters": {
            "status": ["dead", "failed"],
            "customer_id": "alice",
            "schedule_id": None,
            "cursor": None,
            "limit": 5,
        },
        "returned": 2,
    }


# --- re-driving -------------------------------------------------------------------------


def _redrive(
    client: TestClient,
    staff: StaffHeaders,
    operation_id: str,
    key: str = "r-1",
    reason: str = "customer topped up",
    **extra: str,
) -> Any:
    return client.post(
        f"/v1/operations/{operation_id}/redrive",
        json={"reason": reason},
        headers=staff(key=key, **extra),
    )


def test_a_re_driven_operation_runs_again_and_succeeds_once_money_is_there(
    client: TestClient,
    staff: StaffHeaders,
    runtime: bootstrap.Runtime,
    stopped: dict[str, dict[str, str]],
) -> None:
    operation_id = stopped["declined"]["operation"]
    ledger = runtime.ledger
    assert ledger is not None
    ledger.deposit("GB-DEBIT-1", Money.of("600.00", "GBP"))

    response = _redrive(client, staff, operation_id)
    _drive(runtime, _clock(runtime).now())

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["previous_status"], body["reason"], body["redriven_at"]) == (
        "failed",
        "customer topped up",
        "2027-01-07T08:00:00Z",
    )
    assert (body["operation"]["status"], body["operation"]["recommended_action"]) == (
        "pending",
        None,
    )
    assert _statuses(runtime)[operation_id] == "succeeded"
    assert _bookings(runtime, operation_id) == 1
    assert ledger.balance("GB-DEBIT-1") == Money.of("100.00", "GBP")  # 500 - 100 + 600 - 900
    assert operation_id not in _ids(client.get("/v1/operations", headers=staff()))


def test_a_re_drive_is_audited_with_the_actor_reason_and_correlation_id(
    client: TestClient,
    staff: StaffHeaders,
    runtime: bootstrap.Runtime,
    stopped: dict[str, dict[str, str]],
) -> None:
    operation_id = stopped["crashed"]["operation"]

    _redrive(client, staff, operation_id, reason="worker fixed", **{"X-Request-Id": "req-42"})

    [record] = _audit(runtime, "operation.redriven")
    assert (record.actor, record.correlation_id, record.subject_id, record.customer_id) == (
        "staff:ops-1",
        "req-42",
        operation_id,
        "bob",
    )
    assert (record.details["from"], record.details["reason"]) == ("dead", "worker fixed")


def test_the_same_key_and_body_replay_the_first_answer_and_re_drive_once(
    client: TestClient,
    staff: StaffHeaders,
    runtime: bootstrap.Runtime,
    stopped: dict[str, dict[str, str]],
) -> None:
    operation_id = stopped["unknown"]["operation"]
    first = _redrive(client, staff, operation_id)
    _clock(runtime).advance_to(_clock(runtime).now() + timedelta(minutes=5))
    _drive(runtime, _clock(runtime).now())  # fails again: the account is still unknown

    again = _redrive(client, staff, operation_id)

    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(_audit(runtime, "operation.redriven")) == 1
    assert _statuses(runtime)[operation_id] == "failed"


def test_another_body_under_the_same_key_is_refused_and_changes_nothing(
    client: TestClient,
    staff: StaffHeaders,
    runtime: bootstrap.Runtime,
    stopped: dict[str, dict[str, str]],
) -> None:
    _redrive(client, staff, stopped["unknown"]["operation"])

    response = _redrive(client, staff, stopped["declined"]["operation"])
    reworded = _redrive(client, staff, stopped["unknown"]["operation"], reason="other words")

    for refused in (response, reworded):
        assert refused.status_code == 422
        assert refused.json()["type"] == "urn:tsched:problem:idempotency_key_reused"
    assert _statuses(runtime)[stopped["declined"]["operation"]] == "failed"
    assert len(_audit(runtime, "operation.redriven")) == 1


def test_each_staff_member_has_their_own_keys(
    client: TestClient, staff: StaffHeaders, stopped: dict[str, dict[str, str]]
) -> None:
    _redrive(client, staff, stopped["unknown"]["operation"])

    response = client.post(
        f"/v1/operations/{stopped['declined']['operation']}/redrive",
        json={"reason": "customer topped up"},
        headers=staff(subject="ops-2", key="r-1"),
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", ["paid", "redriven"])
def test_re_driving_a_succeeded_or_pending_operation_is_a_409_and_changes_nothing(
    client: TestClient,
    staff: StaffHeaders,
    runtime: bootstrap.Runtime,
    stopped: dict[str, dict[str, str]],
    name: str,
) -> None:
    operation_id = stopped["paid" if name == "paid" else "declined"]["operation"]
    if name == "redriven":
        _redrive(client, staff, operation_id, key="earlier")
    before = (_statuses(runtime), len(_audit(runtime, "operation.redriven")))

    response = _redrive(client, staff, operation_id, key="now")

    assert response.status_code == 409
    assert response.json()["type"] == "urn:tsched:problem:illegal_transition"
    assert (_statuses(runtime), len(_audit(runtime, "operation.redriven"))) == before


def test_re_driving_an_operation_that_does_not_exist_is_a_404(
    client: TestClient, staff: StaffHeaders, runtime: bootstrap.Runtime
) -> None:
    response = _redrive(client, staff, "5f0c6c3e-0000-4000-8000-000000000000")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 401}, "reason"),
        ({"reason": "ok", "force": True}, "force"),
    ],
)
def test_a_re_drive_needs_a_reason_of_1_to_400_characters(
    client: TestClient, staff: StaffHeaders, body: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/v1/operations/5f0c6c3e-0000-4000-8000-000000000000/redrive",
        json=body,
        headers=staff(key="r-1"),
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_a_re_drive_needs_an_idempotency_key(client: TestClient, staff: StaffHeaders) -> None:
    response = client.post(
        "/v1/operations/5f0c6c3e-0000-4000-8000-000000000000/redrive",
        json={"reason": "ok"},
        headers=staff(),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_an_admin_may_list_and_re_drive(
    client: TestClient, staff: StaffHeaders, stopped: dict[str, dict[str, str]]
) -> None:
    listed = client.get("/v1/operations", headers=staff(Role.ADMIN, "admin-1"))
    redriven = _redrive(
        client, lambda **kw: staff(Role.ADMIN, "admin-1", **kw), stopped["unknown"]["operation"]
    )

    assert (listed.status_code, redriven.status_code) == (200, 200)


# --- who may ----------------------------------------------------------------------------

ROUTES = [
    ("GET", "/v1/operations"),
    ("POST", "/v1/operations/5f0c6c3e-0000-4000-8000-000000000000/redrive"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("who", ["customer", "channel", "auditor"])
def test_customers_channels_and_auditors_are_refused_with_a_403(
    *,
    client: TestClient,
    signer: DevelopmentSigner,
    runtime: bootstrap.Runtime,
    method: str,
    path: str,
    who: str,
) -> None:
    token = {
        "customer": signer.issue("alice", [Role.CUSTOMER], customer_id="alice"),
        "channel": signer.issue("mobile-app", [Role.CHANNEL], customer_id="alice"),
        "auditor": signer.issue("aud-1", [Role.AUDITOR]),
    }[who]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"}

    response = client.request(method, path, json={"reason": "r"}, headers=headers)

    assert response.status_code == 403
    assert response.json()["type"] == "urn:tsched:problem:forbidden"
    assert (_audit(runtime, "operations.listed"), _audit(runtime, "operation.redriven")) == (
        [],
        [],
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_unauthenticated_caller_gets_a_401(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={"reason": "r"}, headers={"Idempotency-Key": "k"})

    assert response.status_code == 401
    assert response.json()["type"] == "urn:tsched:problem:unauthenticated"
