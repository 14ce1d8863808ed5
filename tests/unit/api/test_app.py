"""The API's first routes through the ASGI app: health, preview, and problem details."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.api import auth
from scheduler.api.app import create_app
from scheduler.config import Settings
from tests.support.schedules import MORTGAGE


@pytest.fixture
def client(runtime: bootstrap.Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


def test_liveness_answers_ok(client: TestClient) -> None:
    response = client.get("/v1/health/live")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readiness_answers_ready_when_the_store_answers(client: TestClient) -> None:
    response = client.get("/v1/health/ready")

    assert (response.status_code, response.json()) == (200, {"status": "ready", "store": "ok"})


def test_readiness_is_a_503_problem_when_the_store_does_not_answer(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "store.sqlite3"
    runtime = bootstrap.build(Settings(database_url=f"sqlite:///{missing}"), worker="api-test")
    try:
        with TestClient(create_app(runtime)) as client:
            response = client.get("/v1/health/ready")
    finally:
        runtime.close()

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:tsched:problem:store_unavailable",
        "title": "The store does not answer.",
        "status": 503,
        "retry": True,
    }


def test_preview_lists_the_next_executions_on_business_days(client: TestClient) -> None:
    response = client.post("/v1/schedules/preview?count=3", json=MORTGAGE)

    assert response.status_code == 200
    assert [
        (item["nominal_date"], item["execution_date"], item["execute_at_utc"])
        for item in response.json()
    ] == [
        # 31 January 2027 is a Sunday: modified following cannot leave the month.
        ("2027-01-31", "2027-01-29", "2027-01-29T09:00:00Z"),
        ("2027-02-28", "2027-02-26", "2027-02-26T09:00:00Z"),
        ("2027-03-31", "2027-03-31", "2027-03-31T08:00:00Z"),
    ]


def test_preview_stores_nothing(client: TestClient, runtime: bootstrap.Runtime) -> None:
    client.post("/v1/schedules/preview", json=MORTGAGE)

    with runtime.unit_of_work() as uow:
        assert uow.outbox.after(0, 10) == []


def test_a_malformed_document_is_a_422_problem_naming_each_field(client: TestClient) -> None:
    document = {key: value for key, value in MORTGAGE.items() if key != "start_date"}
    document["kind"] = "lottery_ticket"

    response = client.post("/v1/schedules/preview", json=document)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:tsched:problem:invalid_request"
    assert {error["field"] for error in body["errors"]} == {"kind", "start_date"}
    assert "lottery_ticket" not in response.text


def test_an_amount_finer_than_its_currency_is_a_422_problem_on_that_field(
    client: TestClient,
) -> None:
    document = MORTGAGE | {"amount": {"value": "12.345", "currency": "GBP"}}

    response = client.post("/v1/schedules/preview", json=document)

    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "urn:tsched:problem:invalid_money"
    assert body["code"] == "invalid_money"
    assert body["errors"] == [
        {"field": "amount", "message": "GBP amounts have at most 2 decimals, got 12.345"}
    ]


def test_a_one_time_transfer_in_the_past_previews_no_execution(client: TestClient) -> None:
    document = {key: value for key, value in MORTGAGE.items() if key != "recurrence"}
    document |= {"kind": "one_time_transfer", "start_date": "2026-06-01"}

    response = client.post("/v1/schedules/preview", json=document)

    assert (response.status_code, response.json()) == (200, [])


def test_a_count_out_of_range_is_a_422_problem(client: TestClient) -> None:
    response = client.post("/v1/schedules/preview?count=0", json=MORTGAGE)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["count"]


def test_an_unknown_route_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:tsched:problem:not_found"


def test_the_openapi_document_describes_the_routes(client: TestClient) -> None:
    paths = client.get("/v1/openapi.json").json()["paths"]

    assert {"/v1/health/live", "/v1/health/ready", "/v1/schedules/preview"} <= set(paths)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (auth.Unauthenticated(reason="expired"), 401, "unauthenticated"),
        (auth.Forbidden(reason="role"), 403, "forbidden"),
        (auth.KeySourceUnavailable(reason="jwks"), 503, "auth_unavailable"),
    ],
)
def test_auth_errors_are_problems_with_their_status(
    runtime: bootstrap.Runtime, error: auth.AuthError, status: int, code: str
) -> None:
    app = create_app(runtime)

    @app.get("/v1/guarded")
    def guarded() -> None:
        raise error

    with TestClient(app) as client:
        response = client.get("/v1/guarded")

    assert response.status_code == status
    assert response.json()["type"] == f"urn:tsched:problem:{code}"
    challenge = response.headers.get("WWW-Authenticate")
    assert challenge == ('Bearer error="invalid_token"' if status == 401 else None)
