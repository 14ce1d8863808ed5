"""A request the store fails transiently is run again (`store_retry.RetryingRoute`):
answered normally when a later attempt succeeds, with a 503 `store_unavailable` problem
when every attempt fails, and never retried for a real error. The SQLite store's
statements fail as Azure SQL's would (`tests.support.store_faults`); the retry waits
are recorded, not slept."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api import store_retry
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner
from tests.support import store_faults
from tests.support.schedules import MORTGAGE
from tests.unit.api.conftest import Headers


class RecordedWaits:
    """The retry's sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def waits() -> RecordedWaits:
    return RecordedWaits()


@pytest.fixture
def client(
    runtime: bootstrap.Runtime, signer: DevelopmentSigner, waits: RecordedWaits
) -> Iterator[TestClient]:
    """The API client, answering a 500 (not raising) on an unexpected error."""
    app = create_app(runtime, signer.verifier())
    app.state.store_retry = store_retry.StoreRetry(sleep=waits)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _count(runtime: bootstrap.Runtime, table: sa.Table) -> int:
    with runtime.engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_post_the_store_fails_once_is_answered_normally_and_creates_once(
    client: TestClient,
    headers: Headers,
    runtime: bootstrap.Runtime,
    waits: RecordedWaits,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The idempotent response is stored last, after the schedule, in the same transaction:
    # the first attempt's schedule must be rolled back for the count below to be one.
    faults = store_faults.StatementFaults(
        runtime.engine, store_faults.inserts_into(tables.api_idempotency), times=1
    )

    with caplog.at_level(logging.WARNING, logger=store_retry.__name__):
        response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))

    assert response.status_code == 201, response.text
    assert (faults.failed, faults.seen) == (1, 2)
    assert _count(runtime, tables.schedule) == 1
    assert _count(runtime, tables.api_idempotency) == 1
    [delay] = waits.delays
    assert 0.0 <= delay <= 0.1
    [record] = caplog.records
    assert "POST /v1/schedules" in record.getMessage()
    assert "40613" in record.getMessage()


def test_a_read_the_store_fails_once_is_answered_normally(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    created = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1")).json()
    faults = store_faults.StatementFaults(
        runtime.engine, lambda statement: statement.lstrip().upper().startswith("SELECT")
    )

    response = client.get(f"/v1/schedules/{created['id']}", headers=headers())

    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"]
    assert faults.failed == 1


def test_a_store_that_keeps_failing_answers_503_store_unavailable_and_changes_nothing(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime, waits: RecordedWaits
) -> None:
    faults = store_faults.StatementFaults(
        runtime.engine, store_faults.inserts_into(tables.api_idempotency), times=None
    )

    response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert body["type"] == "urn:tsched:problem:store_unavailable"
    assert (body["status"], body["code"], body["retry"]) == (503, "store_unavailable", True)
    assert faults.failed == 3
    assert len(waits.delays) == 2
    assert all(0.0 <= delay <= 0.2 for delay in waits.delays)
    assert _count(runtime, tables.schedule) == 0
    assert _count(runtime, tables.api_idempotency) == 0

    # Once the store answers, the same request with the same key takes effect once.
    faults.remove()
    again = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))
    assert again.status_code == 201, again.text
    assert _count(runtime, tables.schedule) == 1


def test_a_non_transient_store_error_is_not_retried(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime, waits: RecordedWaits
) -> None:
    faults = store_faults.StatementFaults(
        runtime.engine,
        store_faults.inserts_into(tables.api_idempotency),
        number=store_faults.PRIMARY_KEY_VIOLATION,
        times=None,
    )

    response = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1"))

    assert response.status_code == 500
    assert faults.failed == 1
    assert waits.delays == []
    assert _count(runtime, tables.schedule) == 0


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route of `routes`, into included routers (which this FastAPI keeps as
    routes of their own, holding the router included)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def test_every_api_route_retries_transient_store_errors(
    runtime: bootstrap.Runtime, signer: DevelopmentSigner
) -> None:
    routes = list(_api_routes(create_app(runtime, signer.verifier()).routes))

    assert len(routes) > 10
    assert {route.path for route in routes} >= {"/v1/schedules", "/v1/health/ready"}
    assert all(isinstance(route, store_retry.RetryingRoute) for route in routes)
