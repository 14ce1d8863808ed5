"""The API's first routes through the ASGI app: health, preview, and problem details."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.adapters.sql import outbox
from scheduler.api import auth
from scheduler.api.app import create_app
from scheduler.api.problems import Problem
from scheduler.config import Settings
from scheduler.domain.events import Event, EventType, StoredEvent
from scheduler.ports import BrokerStatus
from tests.support.schedules import MORTGAGE
from tests.unit.api.conftest import Headers


def test_liveness_answers_ok(client: TestClient) -> None:
    response = client.get("/v1/health/live")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readiness_answers_ready_when_the_store_answers(client: TestClient) -> None:
    response = client.get("/v1/health/ready")

    assert (response.status_code, response.json()) == (
        200,
        {
            "status": "ready",
            "store": "ok",
            "events": {
                "kafka": "off",
                "unpublished": 0,
                "unpublished_counted_up_to": 10_000,
                "oldest_unpublished_seconds": None,
            },
        },
    )


class SilentBrokers:
    """A publisher whose brokers did not answer its last round."""

    def publish(self, events: Sequence[StoredEvent]) -> list[int]:
        return []

    def status(self) -> BrokerStatus:
        return BrokerStatus(reachable=False, since=datetime(2027, 1, 4, 9, 0, tzinfo=UTC))


def test_readiness_shows_a_broker_outage_and_the_waiting_events_but_stays_ready(
    runtime: bootstrap.Runtime,
) -> None:
    with runtime.engine.begin() as connection:
        outbox.SqlOutboxRepository(connection).add(
            [
                Event(
                    event_id=uuid.uuid4(),
                    type=EventType.REMINDER_DUE,
                    schedule_id=uuid.uuid4(),
                    customer_id="alice",
                    occurred_at=runtime.clock.now() - timedelta(seconds=90),
                    data={},
                )
                for _ in range(2)
            ]
        )
    silent = dataclasses.replace(runtime, publisher=SilentBrokers())

    with TestClient(create_app(silent)) as client:
        response = client.get("/v1/health/ready")

    assert response.status_code == 200
    assert response.json()["events"] == {
        "kafka": "unreachable",
        "since": "2027-01-04T09:00:00+00:00",
        "unpublished": 2,
        "unpublished_counted_up_to": 10_000,
        "oldest_unpublished_seconds": 90.0,
    }


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


def test_preview_lists_the_next_executions_on_business_days(
    client: TestClient, headers: Headers
) -> None:
    response = client.post("/v1/schedules/preview?count=3", json=MORTGAGE, headers=headers())

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


def test_preview_stores_nothing(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    client.post("/v1/schedules/preview", json=MORTGAGE, headers=headers())

    with runtime.unit_of_work() as uow:
        assert uow.outbox.after(0, 10) == []


def test_a_malformed_document_is_a_422_problem_naming_each_field(
    client: TestClient, headers: Headers
) -> None:
    document = {key: value for key, value in MORTGAGE.items() if key != "start_date"}
    document["kind"] = "lottery_ticket"

    response = client.post("/v1/schedules/preview", json=document, headers=headers())

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:tsched:problem:invalid_request"
    assert {error["field"] for error in body["errors"]} == {"kind", "start_date"}
    assert "lottery_ticket" not in response.text


def test_an_amount_finer_than_its_currency_is_a_422_problem_on_that_field(
    client: TestClient, headers: Headers
) -> None:
    document = MORTGAGE | {"amount": {"value": "12.345", "currency": "GBP"}}

    response = client.post("/v1/schedules/preview", json=document, headers=headers())

    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "urn:tsched:problem:invalid_money"
    assert body["code"] == "invalid_money"
    assert body["errors"] == [
        {"field": "amount", "message": "GBP amounts have at most 2 decimals, got 12.345"}
    ]


def test_a_one_time_transfer_in_the_past_previews_no_execution(
    client: TestClient, headers: Headers
) -> None:
    document = {key: value for key, value in MORTGAGE.items() if key != "recurrence"}
    document |= {"kind": "one_time_transfer", "start_date": "2026-06-01"}

    response = client.post("/v1/schedules/preview", json=document, headers=headers())

    assert (response.status_code, response.json()) == (200, [])


def test_a_count_out_of_range_is_a_422_problem(client: TestClient, headers: Headers) -> None:
    response = client.post("/v1/schedules/preview?count=0", json=MORTGAGE, headers=headers())

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


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_the_document_declares_is_a_problem(client: TestClient) -> None:
    document = client.get("/v1/openapi.json").json()

    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    errors = {
        (name, status): response["content"]
        for name, operation in _operations(document)
        for status, response in operation["responses"].items()
        if int(status) >= 400
    }
    assert errors
    assert all(content == problem for content in errors.values())
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_document_says_which_operations_need_a_bearer_token(client: TestClient) -> None:
    document = client.get("/v1/openapi.json").json()
    operations = dict(_operations(document))

    assert document["security"] == [{"bearer": []}]
    public = {name for name, operation in operations.items() if operation.get("security") == []}
    assert public == {"GET /v1/health/live", "GET /v1/health/ready"}
    for name in operations.keys() - public:
        responses = operations[name]["responses"]
        assert {"401", "403", "503"} <= responses.keys(), name
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"], name
    assert not any("401" in operations[name]["responses"] for name in public)


def test_the_document_declares_the_preconditions_of_a_change(client: TestClient) -> None:
    responses = client.get("/v1/openapi.json").json()["paths"]["/v1/schedules/{schedule_id}"]

    assert {"404", "409", "412", "422", "428"} <= responses["patch"]["responses"].keys()
    assert {"404", "422"} <= responses["get"]["responses"].keys()
    assert "412" not in responses["get"]["responses"]


def test_the_downloads_declare_their_media_types_and_the_link_answer(
    client: TestClient,
) -> None:
    document = client.get("/v1/openapi.json").json()
    paths = document["paths"]
    link = {"schema": {"$ref": "#/components/schemas/ExportLinkOut"}}

    for path, media_type in (("export.csv", "text/csv"), ("export.pdf", "application/pdf")):
        operation = paths[f"/v1/history/{path}"]["get"]
        assert operation["responses"]["200"]["content"] == {
            media_type: {},
            "application/json": link,
        }
        assert "delivery" in {parameter["name"] for parameter in operation["parameters"]}
    assert set(document["components"]["schemas"]["ExportLinkOut"]["required"]) == {
        "url",
        "expires_at",
        "filename",
        "media_type",
        "size",
    }


def test_a_problem_sent_is_one_the_document_describes(client: TestClient, headers: Headers) -> None:
    response = client.post("/v1/schedules/preview?count=0", json=MORTGAGE, headers=headers())

    sent = response.json()
    assert Problem.model_validate(sent).model_dump(mode="json", exclude_none=True) == sent


def test_asking_twice_gives_the_same_document(runtime: bootstrap.Runtime) -> None:
    app = create_app(runtime)
    first = copy.deepcopy(app.openapi())

    assert app.openapi() == first


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


def test_the_document_declares_the_headers_a_schedule_answer_carries(client: TestClient) -> None:
    paths = client.get("/v1/openapi.json").json()["paths"]

    created = paths["/v1/schedules"]["post"]["responses"]["201"]["headers"]
    read = paths["/v1/schedules/{schedule_id}"]["get"]["responses"]["200"]["headers"]
    cancelled = paths["/v1/schedules/{schedule_id}/cancel"]["post"]["responses"]["200"]

    assert {name for name, header in created.items() if header.get("required")} == {
        "ETag",
        "Location",
    }
    assert set(created) == {"ETag", "Location", "Idempotent-Replayed"}
    assert read["ETag"]["required"] is True
    assert set(cancelled["headers"]) == {"ETag", "Idempotent-Replayed"}
