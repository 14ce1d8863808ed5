"""The request body limit under a real uvicorn, over a loopback socket: a declared
length over the limit is answered before the body is sent, a chunked body as soon as
it passes the limit, without waiting for its end, and the connection is closed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scheduler import bootstrap
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from tests.support import api
from tests.support.schedules import MORTGAGE
from tests.support.uvicorn_server import serving

pytestmark = pytest.mark.integration

#: Seconds a test waits for an answer: the deadline, not a pause.
DEADLINE = 10.0


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    runtime = api.migrated_runtime(tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture
def signer(tmp_path: Path) -> DevelopmentSigner:
    return DevelopmentSigner(tmp_path / "keys")


@pytest.fixture
def token(signer: DevelopmentSigner) -> str:
    return signer.issue("alice", [Role.CUSTOMER], customer_id="alice")


@pytest.fixture
def address(runtime: bootstrap.Runtime, signer: DevelopmentSigner) -> Iterator[tuple[str, int]]:
    """Where uvicorn serves the API."""
    with serving(create_app(runtime, signer.verifier())) as address:
        yield address


def _head(token: str, *framing: str) -> bytes:
    lines = [
        "POST /v1/schedules HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {token}",
        "Idempotency-Key: k-1",
        "Content-Type: application/json",
        *framing,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    connection.settimeout(DEADLINE)
    received = b""
    while chunk := connection.recv(65_536):
        received += chunk
    return received


def test_a_declared_length_over_the_limit_is_answered_before_the_body_is_sent(
    address: tuple[str, int], runtime: bootstrap.Runtime, token: str
) -> None:
    length = runtime.settings.api_max_body_bytes + 1
    with socket.create_connection(address, timeout=DEADLINE) as connection:
        connection.sendall(_head(token, f"Content-Length: {length}"))

        answer = _answer(connection)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["type"] == "urn:tsched:problem:content_too_large"


def test_a_chunked_body_is_answered_as_soon_as_it_passes_the_limit_without_its_end(
    address: tuple[str, int], runtime: bootstrap.Runtime, token: str
) -> None:
    limit = runtime.settings.api_max_body_bytes
    chunks = b"".join(b"400\r\n" + b" " * 1024 + b"\r\n" for _ in range(limit // 1024))
    with socket.create_connection(address, timeout=DEADLINE) as connection:
        # The limit in 1 KiB chunks, then one byte more; the last chunk never comes.
        connection.sendall(_head(token, "Transfer-Encoding: chunked") + chunks + b"1\r\n \r\n")

        answer = _answer(connection)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body)["max_bytes"] == limit


def test_a_body_of_exactly_the_limit_is_served(
    address: tuple[str, int], runtime: bootstrap.Runtime, token: str
) -> None:
    document = json.dumps(MORTGAGE).encode()
    padded = document + b" " * (runtime.settings.api_max_body_bytes - len(document))
    host, port = address

    response = httpx.post(
        f"http://{host}:{port}/v1/schedules",
        content=padded,
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": "k-1",
            "Content-Type": "application/json",
        },
        timeout=DEADLINE,
    )

    assert response.status_code == 201, response.text
