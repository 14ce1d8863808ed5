"""A channel reading a customer's data is a privileged read: each one leaves an audit
record naming the channel, the customer and the correlation id. A customer reading their
own data leaves none."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api.auth import CUSTOMER_HEADER, DevelopmentSigner, Role
from tests.support.schedules import MORTGAGE
from tests.unit.api.conftest import Headers

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def schedule_id(client: TestClient, headers: Headers) -> str:
    response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))
    assert response.status_code == 201, response.text
    created: str = response.json()["id"]
    return created


@pytest.fixture
def as_channel(signer: DevelopmentSigner) -> dict[str, str]:
    token = signer.issue("channel-mobile", [Role.CHANNEL])
    return {
        "Authorization": f"Bearer {token}",
        CUSTOMER_HEADER: "alice",
        "traceparent": TRACEPARENT,
    }


def _reads(runtime: bootstrap.Runtime) -> list[Any]:
    a = tables.audit_record.c
    with runtime.engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(a.action, a.actor, a.customer_id, a.subject_id, a.correlation_id)
                .where(
                    a.action.in_(
                        ["schedule.read", "schedules.listed", "history.listed", "history.exported"]
                    )
                )
                .order_by(a.seq)
            ).all()
        )


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/v1/schedules/{id}", "schedule.read"),
        ("/v1/schedules", "schedules.listed"),
        ("/v1/history", "history.listed"),
        ("/v1/history/export.csv", "history.exported"),
        ("/v1/history/export.pdf", "history.exported"),
    ],
)
def test_a_channel_read_for_a_customer_is_audited(
    *,
    client: TestClient,
    runtime: bootstrap.Runtime,
    schedule_id: str,
    as_channel: dict[str, str],
    path: str,
    action: str,
) -> None:
    response = client.get(path.format(id=schedule_id), headers=as_channel)

    assert response.status_code == 200, response.text
    [record] = _reads(runtime)
    assert (record.action, record.actor, record.customer_id, record.correlation_id) == (
        action,
        "channel:channel-mobile for customer:alice",
        "alice",
        TRACE_ID,
    )
    assert record.subject_id == (schedule_id if action == "schedule.read" else "*")


def test_a_customer_reading_their_own_data_leaves_no_read_record(
    client: TestClient, runtime: bootstrap.Runtime, headers: Headers, schedule_id: str
) -> None:
    for path in (f"/v1/schedules/{schedule_id}", "/v1/schedules", "/v1/history"):
        assert client.get(path, headers=headers()).status_code == 200

    assert _reads(runtime) == []
