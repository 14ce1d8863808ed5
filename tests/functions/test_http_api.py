"""The HTTP API as a Function: real `func.HttpRequest`s handed to the registered
function the way the worker hands them, through the ASGI middleware to the API over a
runtime on a temporary SQLite store.

What only a real Functions host shows (its routing, the worker's conversion of the
response, the front end's limits) is not here: see the README.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
import sqlalchemy as sa

from bench.export_memory import seed_attempts
from function_app import http_api
from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api import app as api_app
from scheduler.api import history_routes
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.domain.money import Money
from tests.support import api, entry_script
from tests.support.functions_http import HOST, Handler, InvocationContext
from tests.support.schedules import MORTGAGE


class Worker:
    """Calls the indexed `http_api` as the worker does: one invocation per request."""

    def __init__(self, handler: Handler, signer: DevelopmentSigner) -> None:
        self._handler = handler
        self._signer = signer

    def call(
        self,
        method: str,
        path: str,
        *,
        customer: str | None = "alice",
        key: str | None = None,
        params: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
        content: bytes | None = None,
        staff: Role | None = None,
    ) -> func.HttpResponse:
        """`method path?params` with `body` as JSON (or `content`, JSON bytes as they
        are), as `customer` (None: no token), or as a staff member with the role `staff`."""
        headers: dict[str, str] = {}
        if staff is not None:
            headers["Authorization"] = f"Bearer {self._signer.issue('staff-1', [staff])}"
        elif customer is not None:
            token = self._signer.issue(customer, [Role.CUSTOMER], customer_id=customer)
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        if body is not None:
            content = json.dumps(body).encode()
        if content is not None:
            headers["Content-Type"] = "application/json"
        query = f"?{urlencode(params)}" if params else ""
        request = func.HttpRequest(
            method=method,
            url=f"{HOST}{path}{query}",
            headers=headers,
            params=dict(params or {}),
            route_params={"route": path.lstrip("/")},
            body=content or b"",
        )
        return asyncio.run(self._handler(request, InvocationContext()))


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    runtime = api.migrated_runtime(tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, runtime: bootstrap.Runtime) -> Iterator[list[int]]:
    """The process's runtime is the test's; counts how often the app asks for it. The
    app is built afresh for each test (the cache is the process's, not the test's)."""
    calls: list[int] = []

    def process_runtime() -> bootstrap.Runtime:
        calls.append(1)
        return runtime

    monkeypatch.setattr(bootstrap, "process_runtime", process_runtime)
    http_api.middleware.cache_clear()
    yield calls
    http_api.middleware.cache_clear()


@pytest.fixture
def worker(isolated_settings: None, tmp_path: Path, built: list[int]) -> Worker:
    # isolated_settings runs the test in tmp_path, so the app's development signer keeps
    # its key in tmp_path/.tsched, where this signer finds it.
    signer = DevelopmentSigner(tmp_path / http_api.DEVELOPMENT_KEYS)
    handler = entry_script.indexed_functions()["http_api"].get_user_function()
    return Worker(handler, signer)


def _json(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def _count(runtime: bootstrap.Runtime, table: sa.Table) -> int:
    with runtime.engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_create_replayed_with_its_idempotency_key_answers_the_same_and_stores_once(
    worker: Worker, runtime: bootstrap.Runtime
) -> None:
    first = worker.call("POST", "/v1/schedules", key="k-1", body=MORTGAGE)
    again = worker.call("POST", "/v1/schedules", key="k-1", body=MORTGAGE)

    assert (first.status_code, again.status_code) == (201, 201)
    assert _json(again) == _json(first)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(runtime, tables.schedule) == 1


def test_a_body_missing_a_field_is_a_422_problem_naming_it(worker: Worker) -> None:
    document = {name: value for name, value in MORTGAGE.items() if name != "debit_account"}

    response = worker.call("POST", "/v1/schedules", key="k-1", body=document)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = _json(response)
    assert problem["type"] == "urn:tsched:problem:invalid_request"
    assert [error["field"] for error in problem["errors"]] == ["debit_account"]


def test_a_body_over_the_limit_is_a_413_problem_and_stores_nothing(
    worker: Worker, runtime: bootstrap.Runtime
) -> None:
    limit = runtime.settings.api_max_body_bytes
    document = json.dumps(MORTGAGE).encode()
    padded = document + b" " * (limit + 1 - len(document))

    response = worker.call("POST", "/v1/schedules", key="k-1", content=padded)

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert _json(response)["type"] == "urn:tsched:problem:content_too_large"
    assert _count(runtime, tables.schedule) == 0
    exactly = worker.call("POST", "/v1/schedules", key="k-1", content=padded[:-1])
    assert exactly.status_code == 201


def test_a_reference_with_a_control_character_is_a_422_problem_naming_it(
    worker: Worker, runtime: bootstrap.Runtime
) -> None:
    response = worker.call(
        "POST", "/v1/schedules", key="k-1", body=MORTGAGE | {"reference": "Rent\x1b[2J"}
    )

    assert response.status_code == 422
    problem = _json(response)
    assert problem["type"] == "urn:tsched:problem:forbidden_character"
    assert [error["field"] for error in problem["errors"]] == ["reference"]
    assert _count(runtime, tables.schedule) == 0


def test_another_customers_schedule_is_a_404_problem(worker: Worker) -> None:
    created = _json(worker.call("POST", "/v1/schedules", key="k-1", body=MORTGAGE))
    path = f"/v1/schedules/{created['id']}"

    bobs_read = worker.call("GET", path, customer="bob")
    alices_read = worker.call("GET", path)

    assert bobs_read.status_code == 404
    assert bobs_read.mimetype == "application/problem+json"
    assert _json(bobs_read)["type"] == "urn:tsched:problem:unknown_schedule"
    assert (alices_read.status_code, _json(alices_read)["id"]) == (200, created["id"])


def test_the_openapi_document_is_at_v1_openapi_json(worker: Worker) -> None:
    response = worker.call("GET", "/v1/openapi.json", customer=None)

    assert response.status_code == 200
    document = _json(response)
    assert document["openapi"].startswith("3.")
    assert "/v1/schedules" in document["paths"]


def test_liveness_answers_at_v1_health_live_without_a_token(worker: Worker) -> None:
    response = worker.call("GET", "/v1/health/live", customer=None)

    assert (response.status_code, _json(response)) == (200, {"status": "ok"})


def test_the_operations_page_and_its_figures_are_served_by_the_function(
    worker: Worker,
) -> None:
    page = worker.call("GET", "/ops", customer=None)
    script = worker.call("GET", "/ops/ops.js", customer=None)
    figures = worker.call("GET", "/v1/ops/status", staff=Role.OPERATIONS)

    assert (page.status_code, page.mimetype) == (200, "text/html; charset=utf-8")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert (script.status_code, script.mimetype) == (200, "text/javascript; charset=utf-8")
    assert figures.status_code == 200
    assert _json(figures)["outbox"]["relay"] == "off"


def test_the_url_path_reaches_the_api_unchanged_so_a_route_prefix_would_miss(
    worker: Worker,
) -> None:
    # With host.json's former routePrefix "api" the host would hand over this URL.
    response = worker.call("GET", "/api/v1/health/live", customer=None)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_app_is_built_on_the_first_request_and_kept_for_the_next(
    worker: Worker, built: list[int]
) -> None:
    assert built == []  # indexing the entry script built nothing

    worker.call("GET", "/v1/health/live", customer=None)
    worker.call("GET", "/v1/health/ready", customer=None)

    assert built == [1]


def test_a_download_holds_at_most_the_functions_cap_and_past_it_is_refused_naming_it(
    worker: Worker, runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_api, "MAX_EXPORT_ROWS", 3)
    amounts = [Money.of(value, "GBP") for value in ("1.00", "2.00", "3.00")]
    seed_attempts(runtime.engine, "alice", amounts, first_finished_at=api.NOW)

    at_cap = worker.call("GET", "/v1/history/export.csv")
    seed_attempts(
        runtime.engine,
        "alice",
        [Money.of("4.00", "GBP")],
        first_finished_at=api.NOW + timedelta(hours=1),
    )
    over = {form: worker.call("GET", f"/v1/history/export.{form}") for form in ("csv", "pdf")}

    assert at_cap.status_code == 200
    assert at_cap.mimetype == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(at_cap.get_body().decode(), newline="")))
    assert [row["amount"] for row in rows] == ["3.00", "2.00", "1.00"]
    for response in over.values():
        assert response.status_code == 422
        assert response.mimetype == "application/problem+json"
        problem = _json(response)
        assert problem["type"] == "urn:tsched:problem:export_too_large"
        assert problem["detail"].startswith("more than 3 attempts match")


def test_the_functions_cap_is_far_below_the_uvicorn_cap() -> None:
    assert 0 < http_api.MAX_EXPORT_ROWS <= history_routes.MAX_EXPORT_ROWS // 100


def test_the_function_accepts_exactly_the_methods_the_apis_routes_answer(
    runtime: bootstrap.Runtime,
) -> None:
    # The OpenAPI document lists every operation; the documents themselves are GETs.
    paths = api_app.create_app(runtime).openapi()["paths"]
    used = {method.upper() for operations in paths.values() for method in operations}

    assert used == {method.value for method in http_api.METHODS}
