"""The OpenAPI document tells the truth: schemathesis sends every operation in it
requests generated from the document (valid and invalid ones), as a customer and as an
admin, and checks each answer against the document: no server error, and a documented
status, content type, headers and body.

The document is read at collection from an app that serves nothing else (schemathesis's
fixture-based loader, `schemathesis.pytest.from_fixture`, does not run on pytest 9: it
sets `Function._nodeid`, which pytest 9 no longer has); the requests go, in process, to
an app over a migrated SQLite file seeded with Alice's schedules and their attempts, so
that listings and downloads have rows to describe, and the routes of one schedule
something to read and change. That app and its store live for the module, as a
server's would: what one operation's examples create, the next sees. Generation is
derandomised, so every run sends the same requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scheduler import bootstrap, runner
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.config import Settings
from tests.support.api import NOW, migrated_runtime
from tests.support.clock import SettableClock
from tests.support.schedules import MORTGAGE, one_time_transfer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _document() -> schemathesis.BaseSchema:
    """The OpenAPI document, from an app that only serves it (so its in-memory store is
    never used, and is closed at once): the requests go to the `app` fixture's."""
    runtime = bootstrap.build(Settings(database_url="sqlite://"), worker="openapi")
    try:
        return schemathesis.openapi.from_asgi("/v1/openapi.json", create_app(runtime))
    finally:
        runtime.close()


schema = _document()


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentSigner:
    return DevelopmentSigner(tmp_path_factory.mktemp("keys"))


@dataclass(frozen=True, slots=True)
class Served:
    """The app the requests go to, and the id of Alice's mortgage in its store."""

    app: FastAPI
    mortgage_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, signer: DevelopmentSigner) -> Iterator[Served]:
    """The app, with Alice's schedules and their first attempts stored."""
    runtime = migrated_runtime(tmp_path_factory.mktemp("store"))
    app = create_app(runtime, signer.verifier())
    yield Served(app, _seed(app, runtime, signer))
    runtime.close()


@pytest.fixture(scope="module", params=[Role.CUSTOMER, Role.ADMIN], ids=str)
def caller(request: pytest.FixtureRequest, signer: DevelopmentSigner) -> dict[str, str]:
    """The Authorization header of Alice (a customer) or of an admin, who may also call
    the operations and audit routes."""
    role: Role = request.param
    customer_id = "alice" if role is Role.CUSTOMER else None
    token = signer.issue(f"{role}-1", [role], customer_id=customer_id)
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
# No deadline: how long a request takes depends on the disk under SQLite, and is not what
# this test is about.
@settings(max_examples=30, derandomize=True, database=None, deadline=None)
def test_every_operation_answers_as_the_document_says(
    case: schemathesis.Case, served: Served, caller: dict[str, str]
) -> None:
    if case.path_parameters and "schedule_id" in case.path_parameters:
        # Alice's mortgage, not a generated id (which names no schedule), so that a read
        # or a change gets past the 404 and its answer is checked too.
        case.path_parameters["schedule_id"] = served.mortgage_id
    case.call_and_validate(app=served.app, headers=caller, checks=CHECKS)


def _seed(app: FastAPI, runtime: bootstrap.Runtime, signer: DevelopmentSigner) -> str:
    """Alice schedules 100.00 (paid when due), 900.00 (declined: more than she holds)
    and her mortgage, whose id is returned; the clock moves past the first two's date
    and they run."""
    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")
    with TestClient(app) as client:
        for key, document in (
            ("paid", one_time_transfer("2027-01-05", "100.00")),
            ("declined", one_time_transfer("2027-01-05", "900.00")),
            ("mortgage", MORTGAGE),
        ):
            response = client.post(
                "/v1/schedules",
                json=document,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            )
            assert response.status_code == 201, response.text
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    clock.advance_to(NOW + timedelta(days=4))
    while runner.run_cycle(runtime, runner.LoopSettings()).claimed:
        pass
    mortgage_id: str = response.json()["id"]
    return mortgage_id
