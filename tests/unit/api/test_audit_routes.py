"""The auditors' routes over HTTP: the audit trail newest first, filtered and paged,
and its verification, each read itself audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.service.seal_audit import seal_audit
from tests.support.clock import SettableClock
from tests.support.schedules import MORTGAGE
from tests.unit.api.conftest import BOBS_ACCOUNT, Headers

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"

#: An auditor's (or, with a role, another staff member's) headers, plus any extra.
StaffHeaders = Callable[..., dict[str, str]]


@pytest.fixture
def auditor(signer: DevelopmentSigner) -> StaffHeaders:
    def make(role: Role = Role.AUDITOR, subject: str = "aud-1", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {signer.issue(subject, [role])}", **extra}

    return make


@pytest.fixture
def trail(client: TestClient, headers: Headers, runtime: bootstrap.Runtime) -> dict[str, str]:
    """Three records an hour apart: Alice creates her mortgage at NOW, Bob his at
    NOW + 1h, Alice pauses hers at NOW + 2h. Returns the schedule ids by customer."""
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    ids = {}
    for customer, document in (
        ("alice", MORTGAGE),
        ("bob", MORTGAGE | {"debit_account": BOBS_ACCOUNT}),
    ):
        response = client.post(
            "/v1/schedules", json=document, headers=headers(customer=customer, key="k-1")
        )
        assert response.status_code == 201, response.text
        ids[customer] = response.json()["id"]
        clock.advance_to(clock.now() + timedelta(hours=1))
    paused = client.post(
        f"/v1/schedules/{ids['alice']}/pause",
        headers=headers(key="k-2", **{"X-Request-Id": "pause-1"}),
    )
    assert paused.status_code == 200, paused.text
    return ids


def _page(client: TestClient, auditor: StaffHeaders, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/audit", params=params, headers=auditor())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _actions(page: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(item["action"], item["customer_id"]) for item in page["items"]]


def _seal(runtime: bootstrap.Runtime) -> None:
    seal_audit(uow_factory=runtime.unit_of_work, clock=runtime.clock)


def _records(runtime: bootstrap.Runtime, action: str) -> list[sa.Row[Any]]:
    t = tables.audit_record
    with runtime.engine.connect() as connection:
        return list(connection.execute(sa.select(t).where(t.c.action == action)))


# --- the trail --------------------------------------------------------------------------


def test_an_auditor_reads_the_trail_newest_first_with_every_field(
    client: TestClient, auditor: StaffHeaders, trail: dict[str, str]
) -> None:
    page = _page(client, auditor)

    assert _actions(page) == [
        ("schedule.paused", "alice"),
        ("schedule.created", "bob"),
        ("schedule.created", "alice"),
    ]
    assert [item["seq"] for item in page["items"]] == [3, 2, 1]
    assert page["items"][0] == {
        "seq": 3,
        "occurred_at": "2027-01-01T14:00:00Z",
        "actor": "customer:alice",
        "action": "schedule.paused",
        "subject_type": "schedule",
        "subject_id": trail["alice"],
        "customer_id": "alice",
        "correlation_id": "pause-1",
        "details": page["items"][0]["details"],
        "block_no": None,
    }
    assert page["items"][0]["details"]["from"] == "active"
    assert page["next_cursor"] is None


def test_a_sealed_record_shows_its_block(
    client: TestClient, auditor: StaffHeaders, runtime: bootstrap.Runtime, trail: dict[str, str]
) -> None:
    _seal(runtime)

    page = _page(client, auditor)

    assert [item["block_no"] for item in page["items"]] == [1, 1, 1]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"customer_id": "bob"}, [("schedule.created", "bob")]),
        (
            {"action": "schedule.created"},
            [("schedule.created", "bob"), ("schedule.created", "alice")],
        ),
        ({"subject_type": "operation"}, []),
        (
            {"from": "2027-01-01T12:30:00Z"},
            [("schedule.paused", "alice"), ("schedule.created", "bob")],
        ),
        ({"to": "2027-01-01T13:00:00+00:00"}, [("schedule.created", "alice")]),
        (
            {"from": "2027-01-01T13:00:00Z", "to": "2027-01-01T14:00:00Z"},
            [("schedule.created", "bob")],
        ),
    ],
)
def test_the_trail_filters_by_customer_action_subject_and_time(
    client: TestClient,
    auditor: StaffHeaders,
    trail: dict[str, str],
    params: dict[str, str],
    expected: list[tuple[str, str]],
) -> None:
    assert _actions(_page(client, auditor, **params)) == expected


def test_the_trail_filters_by_subject(
    client: TestClient, auditor: StaffHeaders, trail: dict[str, str]
) -> None:
    page = _page(client, auditor, subject_type="schedule", subject_id=trail["alice"])

    assert _actions(page) == [("schedule.paused", "alice"), ("schedule.created", "alice")]


def test_the_trail_pages_with_a_cursor_unmoved_by_records_written_since(
    client: TestClient, auditor: StaffHeaders, trail: dict[str, str]
) -> None:
    first = _page(client, auditor, limit=2)
    second = _page(client, auditor, limit=2, cursor=first["next_cursor"])

    assert [item["seq"] for item in first["items"]] == [3, 2]
    assert [item["seq"] for item in second["items"]] == [1]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"from": "2027-01-01T12:00:00"}, "naive_datetime"),
        ({"to": "2027-01-01T12:00:00"}, "naive_datetime"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"limit": "0"}, "invalid_request"),
    ],
)
def test_a_naive_time_a_foreign_cursor_or_a_bad_limit_is_a_422_problem(
    client: TestClient, auditor: StaffHeaders, params: dict[str, str], problem: str
) -> None:
    response = client.get("/v1/audit", params=params, headers=auditor())

    assert response.status_code == 422
    assert response.json()["type"] == f"urn:tsched:problem:{problem}"


def test_reading_the_trail_is_audited_with_the_actor_correlation_id_and_filters(
    client: TestClient, auditor: StaffHeaders, runtime: bootstrap.Runtime, trail: dict[str, str]
) -> None:
    client.get(
        "/v1/audit",
        params={"customer_id": "alice", "from": "2027-01-01T12:00:00Z"},
        headers=auditor(traceparent=TRACEPARENT),
    )

    [record] = _records(runtime, "audit.read")
    assert (record.actor, record.correlation_id, record.customer_id) == (
        "staff:aud-1",
        TRACE_ID,
        "alice",
    )
    assert (record.subject_type, record.subject_id) == ("audit_record", "*")
    assert record.details == {
        "filters": {
            "subject_type": None,
            "subject_id": None,
            "customer_id": "alice",
            "action": None,
            "from": "2027-01-01T12:00:00+00:00",
            "to": None,
            "cursor": None,
            "limit": 50,
        },
        "returned": 2,
    }
    # The read is on the trail for the next reader.
    assert _actions(_page(client, auditor, action="audit.read")) == [("audit.read", "alice")]


# --- verification -----------------------------------------------------------------------


def test_verification_reports_a_sealed_trail_ok(
    client: TestClient, auditor: StaffHeaders, runtime: bootstrap.Runtime, trail: dict[str, str]
) -> None:
    _seal(runtime)

    response = client.get("/v1/audit/verification", headers=auditor())

    assert response.status_code == 200
    assert response.json() == {
        "blocks_checked": 1,
        "blocks_from_archive": 0,
        "records_checked": 3,
        "unsealed_records": 0,
        "ok": True,
        "first_broken": None,
    }


def test_verification_counts_unsealed_records_without_failing_them(
    client: TestClient, auditor: StaffHeaders, trail: dict[str, str]
) -> None:
    report = client.get("/v1/audit/verification", headers=auditor()).json()

    assert (report["blocks_checked"], report["unsealed_records"], report["ok"]) == (0, 3, True)


def test_verification_finds_a_record_changed_in_the_database_after_sealing(
    client: TestClient, auditor: StaffHeaders, runtime: bootstrap.Runtime, trail: dict[str, str]
) -> None:
    _seal(runtime)
    t = tables.audit_record
    with runtime.engine.begin() as connection:
        connection.execute(sa.update(t).where(t.c.seq == 2).values(actor="customer:mallory"))

    report = client.get("/v1/audit/verification", headers=auditor()).json()

    assert report["ok"] is False
    assert report["first_broken"] == {
        "block_no": 1,
        "reason": "records_digest_mismatch",
        "records_named": True,
        "changed_seqs": [2],
        "missing_seqs": [],
        "added_seqs": [],
    }


def test_verification_names_records_deleted_or_renumbered_in_a_sealed_block(
    client: TestClient, auditor: StaffHeaders, runtime: bootstrap.Runtime, trail: dict[str, str]
) -> None:
    _seal(runtime)
    t = tables.audit_record
    with runtime.engine.begin() as connection:
        connection.execute(sa.delete(t).where(t.c.seq == 1))
        connection.execute(sa.update(t).where(t.c.seq == 3).values(seq=4))

    report = client.get("/v1/audit/verification", headers=auditor()).json()

    assert report["first_broken"] == {
        "block_no": 1,
        "reason": "count_mismatch",
        "records_named": True,
        "changed_seqs": [],
        "missing_seqs": [1, 3],
        "added_seqs": [4],
    }


def test_verification_of_a_block_with_an_edited_hash_list_names_no_record(
    client: TestClient, auditor: StaffHeaders, runtime: bootstrap.Runtime, trail: dict[str, str]
) -> None:
    _seal(runtime)
    b = tables.audit_block
    with runtime.engine.begin() as connection:
        connection.execute(sa.update(b).values(record_hashes="2:" + "0" * 64))

    report = client.get("/v1/audit/verification", headers=auditor()).json()

    assert report["first_broken"] == {
        "block_no": 1,
        "reason": "hash_list_mismatch",
        "records_named": False,
        "changed_seqs": [],
        "missing_seqs": [],
        "added_seqs": [],
    }


def test_verifying_is_audited_with_its_outcome(
    client: TestClient, auditor: StaffHeaders, runtime: bootstrap.Runtime, trail: dict[str, str]
) -> None:
    _seal(runtime)

    report = client.get(
        "/v1/audit/verification", headers=auditor(**{"X-Request-Id": "verify-1"})
    ).json()

    [record] = _records(runtime, "audit.verified")
    assert (record.actor, record.correlation_id, record.subject_type) == (
        "staff:aud-1",
        "verify-1",
        "audit_trail",
    )
    assert record.details == report


# --- who may ----------------------------------------------------------------------------

ROUTES = ["/v1/audit", "/v1/audit/verification"]


@pytest.mark.parametrize("path", ROUTES)
def test_an_admin_may_read_and_verify(client: TestClient, auditor: StaffHeaders, path: str) -> None:
    response = client.get(path, headers=auditor(Role.ADMIN, "admin-1"))

    assert response.status_code == 200


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("who", ["customer", "channel", "operations"])
def test_customers_channels_and_operations_staff_are_refused_with_a_403(
    client: TestClient,
    signer: DevelopmentSigner,
    runtime: bootstrap.Runtime,
    path: str,
    who: str,
) -> None:
    token = {
        "customer": signer.issue("alice", [Role.CUSTOMER], customer_id="alice"),
        "channel": signer.issue("mobile-app", [Role.CHANNEL]),
        "operations": signer.issue("ops-1", [Role.OPERATIONS]),
    }[who]

    response = client.get(path, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.json()["type"] == "urn:tsched:problem:forbidden"
    assert (_records(runtime, "audit.read"), _records(runtime, "audit.verified")) == ([], [])


@pytest.mark.parametrize("path", ROUTES)
def test_an_unauthenticated_caller_gets_a_401(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response.json()["type"] == "urn:tsched:problem:unauthenticated"


def test_the_trail_starts_when_the_store_does(client: TestClient, auditor: StaffHeaders) -> None:
    """An empty trail is an empty page (and its first record is this read)."""
    page = _page(client, auditor)

    assert page == {"items": [], "next_cursor": None}
    assert _actions(_page(client, auditor)) == [("audit.read", None)]
