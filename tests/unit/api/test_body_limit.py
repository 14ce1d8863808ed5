"""The request body limit: a body over `API_MAX_BODY_BYTES` is a 413 problem before
anything parses it, declared by length or counted as it arrives, and stores nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api import body_limit
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner
from scheduler.config import Settings, load_settings
from tests.support.schedules import MORTGAGE
from tests.unit.api.conftest import Headers

LIMIT: int = Settings.model_fields["api_max_body_bytes"].default
#: What a refused request is answered, whatever route it was for.
REFUSAL = {
    "type": "urn:tsched:problem:content_too_large",
    "title": "The request body is too large.",
    "status": 413,
    "detail": f"a request body may hold at most {LIMIT} bytes",
    "code": "content_too_large",
    "max_bytes": LIMIT,
}


def _padded(document: dict[str, Any], size: int) -> bytes:
    """`document` as JSON followed by spaces, `size` bytes in all."""
    text = json.dumps(document).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


def _rows(runtime: bootstrap.Runtime) -> dict[str, int]:
    with runtime.engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in tables.metadata.sorted_tables
        }


def test_the_default_limit_is_64_kib() -> None:
    assert LIMIT == 65_536


def test_a_create_padded_to_five_megabytes_is_a_413_problem_and_stores_nothing(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    before = _rows(runtime)

    response = client.post(
        "/v1/schedules",
        content=_padded(MORTGAGE, 5_000_000),
        headers=headers(key="k-1", **{"Content-Type": "application/json"}),
    )

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Connection"] == "close"
    assert response.json() == REFUSAL
    assert _rows(runtime) == before


def test_a_body_of_exactly_the_limit_is_accepted(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    response = client.post(
        "/v1/schedules",
        content=_padded(MORTGAGE, LIMIT),
        headers=headers(key="k-1", **{"Content-Type": "application/json"}),
    )

    assert response.status_code == 201, response.text
    assert _rows(runtime)["schedule"] == 1


def test_one_byte_over_the_limit_is_refused(client: TestClient, headers: Headers) -> None:
    response = client.post(
        "/v1/schedules",
        content=_padded(MORTGAGE, LIMIT + 1),
        headers=headers(key="k-1", **{"Content-Type": "application/json"}),
    )

    assert response.status_code == 413


def test_a_route_that_takes_no_body_refuses_one_over_the_limit_too(client: TestClient) -> None:
    response = client.request("GET", "/v1/health/live", content=b" " * (LIMIT + 1))

    assert (response.status_code, response.json()) == (413, REFUSAL)


def test_the_limit_is_the_runtimes_setting(
    tmp_path: Path, signer: DevelopmentSigner, headers: Headers
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'small.sqlite3'}", api_max_body_bytes=100
    )
    runtime = bootstrap.build(settings)
    try:
        with TestClient(create_app(runtime, signer.verifier())) as client:
            response = client.post(
                "/v1/schedules/preview", json=MORTGAGE, headers=headers(key="k-1")
            )
    finally:
        runtime.close()

    assert (response.status_code, response.json()["max_bytes"]) == (413, 100)


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
@pytest.mark.usefixtures("isolated_settings")
def test_the_limit_must_be_a_positive_number_of_bytes(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_MAX_BODY_BYTES", value)

    with pytest.raises(pydantic.ValidationError, match="api_max_body_bytes"):
        load_settings()


class Sender:
    """An ASGI client that sends `body` in `chunk`-byte messages (None: a hundred times
    the limit in spaces) with `headers`, and keeps what the app answers."""

    def __init__(
        self, *, chunk: int, body: bytes | None, headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.chunk = chunk
        self.body = body
        self.headers = headers
        self.received = 0
        self.answer: list[dict[str, Any]] = []

    def scope(self) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/schedules/preview",
            "raw_path": b"/v1/schedules/preview",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), *self.headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        if self.body is None:
            more = self.received * self.chunk < 100 * LIMIT
            return {"type": "http.request", "body": b" " * self.chunk, "more_body": more}
        begin = (self.received - 1) * self.chunk
        chunk = self.body[begin : begin + self.chunk]
        return {
            "type": "http.request",
            "body": chunk,
            "more_body": begin + self.chunk < len(self.body),
        }

    async def send(self, message: dict[str, Any]) -> None:
        self.answer.append(dict(message))

    def run(self, app: FastAPI) -> tuple[int, dict[str, Any]]:
        asyncio.run(app(self.scope(), self.receive, self.send))
        start, body = self.answer[0], self.answer[1]
        return start["status"], json.loads(body["body"])


@pytest.fixture
def app(runtime: bootstrap.Runtime, signer: DevelopmentSigner) -> FastAPI:
    return create_app(runtime, signer.verifier())


@pytest.fixture
def caller(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers().items()]


def test_a_chunked_body_is_refused_once_past_the_limit_and_read_no_further(
    app: FastAPI, caller: list[tuple[bytes, bytes]]
) -> None:
    sender = Sender(chunk=1024, body=None, headers=[*caller, (b"transfer-encoding", b"chunked")])

    status, problem = sender.run(app)

    assert (status, problem) == (413, REFUSAL)
    assert sender.received == LIMIT // 1024 + 1


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(
    app: FastAPI, caller: list[tuple[bytes, bytes]]
) -> None:
    sender = Sender(chunk=1024, body=None, headers=[*caller, (b"content-length", b"5000000")])

    status, problem = sender.run(app)

    assert (status, problem) == (413, REFUSAL)
    assert sender.received == 0


def test_a_body_longer_than_its_declared_length_is_counted_all_the_same(
    app: FastAPI, caller: list[tuple[bytes, bytes]]
) -> None:
    sender = Sender(chunk=1024, body=None, headers=[*caller, (b"content-length", b"10")])

    status, _ = sender.run(app)

    assert status == 413
    assert sender.received == LIMIT // 1024 + 1


def test_a_chunked_body_of_exactly_the_limit_reaches_the_route_whole(
    app: FastAPI, caller: list[tuple[bytes, bytes]]
) -> None:
    sender = Sender(
        chunk=1024,
        body=_padded(MORTGAGE, LIMIT),
        headers=[
            *caller,
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
    )

    status, previews = sender.run(app)

    assert (status, len(previews)) == (200, 6)
    assert sender.received == LIMIT // 1024


def test_a_limit_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        body_limit.BodyLimit(FastAPI(), max_bytes=0)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_openapi_document_declares_413_on_every_operation_that_takes_a_body(
    client: TestClient,
) -> None:
    document = client.get("/v1/openapi.json").json()

    declared = {name: "413" in operation["responses"] for name, operation in _operations(document)}
    with_body = {name for name, operation in _operations(document) if "requestBody" in operation}
    assert with_body >= {
        "POST /v1/schedules",
        "PATCH /v1/schedules/{schedule_id}",
        "POST /v1/schedules/preview",
        "POST /v1/operations/{operation_id}/redrive",
    }
    assert {name for name, has in declared.items() if has} == with_body
    response = document["paths"]["/v1/schedules"]["post"]["responses"]["413"]
    assert response["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
