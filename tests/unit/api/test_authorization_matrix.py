"""Who may call what: every operation of the OpenAPI document, called by every kind of
caller, about Alice's data, with the answer each must get.

Alice owns a recurring payment and a transfer that failed (its credit account does not
exist), so there is history and an operation for staff to re-drive. Bob, and a channel
acting for Bob, are the "other customer": an id of Alice's is unknown to them (404), a
listing or download of theirs holds nothing of Alice's, and they cannot debit her
account. A test below fails when an operation is added without a row here.
"""

from __future__ import annotations

import enum
import io
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pypdf
import pytest
from fastapi.testclient import TestClient

from scheduler import bootstrap, runner
from scheduler.api.app import create_app
from scheduler.api.auth import CUSTOMER_HEADER, DevelopmentSigner, Role
from scheduler.config import Settings
from tests.support import api
from tests.support.clock import SettableClock
from tests.support.schedules import MORTGAGE, one_time_transfer
from tests.unit.api.conftest import NOW

#: The failed transfer's amount: no other row anywhere shows it.
FAILED_AMOUNT = "17.17"
#: When the world is built: after the failed transfer's due time, before the mortgage's.
WORLD_TIME = NOW + timedelta(days=4)


class Caller(enum.Enum):
    """A kind of caller: its roles and the customer it acts for."""

    ALICE = ("alice", (Role.CUSTOMER,), "alice")
    BOB = ("bob", (Role.CUSTOMER,), "bob")
    CHANNEL_FOR_ALICE = ("channel-web", (Role.CHANNEL,), "alice")
    CHANNEL_FOR_BOB = ("channel-web", (Role.CHANNEL,), "bob")
    CHANNEL_FOR_NOBODY = ("channel-web", (Role.CHANNEL,), None)
    OPERATIONS = ("ops-1", (Role.OPERATIONS,), None)
    AUDITOR = ("auditor-1", (Role.AUDITOR,), None)
    ADMIN = ("admin-1", (Role.ADMIN,), None)
    ANONYMOUS = (None, (), None)

    def headers(self, signer: DevelopmentSigner) -> dict[str, str]:
        subject, roles, customer = self.value
        if subject is None:
            return {}
        if Role.CUSTOMER in roles:
            return {"Authorization": f"Bearer {signer.issue(subject, roles, customer)}"}
        headers = {"Authorization": f"Bearer {signer.issue(subject, roles)}"}
        if customer is not None:
            headers[CUSTOMER_HEADER] = customer
        return headers


OWN = frozenset({Caller.ALICE, Caller.CHANNEL_FOR_ALICE})
OTHER = frozenset({Caller.BOB, Caller.CHANNEL_FOR_BOB})


@dataclass(frozen=True, slots=True)
class World:
    """Alice's schedule, her failed transfer's schedule and operation."""

    schedule_id: str
    failed_schedule_id: str
    failed_operation_id: str


class Access(enum.Enum):
    """Who an operation is for."""

    PUBLIC = "anyone, without a token"
    ANY_CALLER = "any caller with a valid token"
    CUSTOMER_DATA = "the customer, or a channel acting for them"
    OPERATIONS = "operations staff and admins"
    AUDIT = "auditors and admins"


#: What the other customer gets from a customer-data operation.
class Other(enum.Enum):
    UNKNOWN = 404
    REFUSED = 422
    SEES_NOTHING_OF_ALICES = 200


Call = Callable[[TestClient, World, dict[str, str]], httpx.Response]
#: Whether a successful answer shows Alice's data.
Shows = Callable[[httpx.Response, World], bool]


@dataclass(frozen=True, slots=True)
class Endpoint:
    access: Access
    success: int
    call: Call
    other: Other | None = None
    shows_alices: Shows | None = None


def _keyed(headers: dict[str, str], **extra: str) -> dict[str, str]:
    return headers | {"Idempotency-Key": "matrix-1"} | extra


def _items_show(field: str) -> Shows:
    return lambda response, world: any(
        item[field] in (world.schedule_id, world.failed_schedule_id)
        for item in response.json()["items"]
    )


def _csv_shows(response: httpx.Response, world: World) -> bool:
    return world.failed_schedule_id in response.text


def _pdf_shows(response: httpx.Response, world: World) -> bool:
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return any(FAILED_AMOUNT in (page.extract_text() or "") for page in reader.pages)


def _get(path: str) -> Call:
    return lambda client, world, headers: client.get(path, headers=headers)


def _change(action: str) -> Call:
    return lambda client, world, headers: client.post(
        f"/v1/schedules/{world.schedule_id}/{action}", headers=_keyed(headers)
    )


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "/v1/health/live"): Endpoint(Access.PUBLIC, 200, _get("/v1/health/live")),
    ("GET", "/v1/health/ready"): Endpoint(Access.PUBLIC, 200, _get("/v1/health/ready")),
    ("POST", "/v1/schedules/preview"): Endpoint(
        Access.ANY_CALLER,
        200,
        lambda client, world, headers: client.post(
            "/v1/schedules/preview", json=MORTGAGE, headers=headers
        ),
    ),
    ("POST", "/v1/schedules"): Endpoint(
        Access.CUSTOMER_DATA,
        201,
        lambda client, world, headers: client.post(
            "/v1/schedules", json=MORTGAGE, headers=_keyed(headers)
        ),
        other=Other.REFUSED,
    ),
    ("GET", "/v1/schedules"): Endpoint(
        Access.CUSTOMER_DATA,
        200,
        _get("/v1/schedules"),
        other=Other.SEES_NOTHING_OF_ALICES,
        shows_alices=_items_show("id"),
    ),
    ("GET", "/v1/schedules/{schedule_id}"): Endpoint(
        Access.CUSTOMER_DATA,
        200,
        lambda client, world, headers: client.get(
            f"/v1/schedules/{world.schedule_id}", headers=headers
        ),
        other=Other.UNKNOWN,
    ),
    ("PATCH", "/v1/schedules/{schedule_id}"): Endpoint(
        Access.CUSTOMER_DATA,
        200,
        lambda client, world, headers: client.patch(
            f"/v1/schedules/{world.schedule_id}",
            json={"reminders": []},
            headers=headers | {"If-Match": '"1"'},
        ),
        other=Other.UNKNOWN,
    ),
    ("POST", "/v1/schedules/{schedule_id}/pause"): Endpoint(
        Access.CUSTOMER_DATA, 200, _change("pause"), other=Other.UNKNOWN
    ),
    ("POST", "/v1/schedules/{schedule_id}/resume"): Endpoint(
        Access.CUSTOMER_DATA, 200, _change("resume"), other=Other.UNKNOWN
    ),
    ("POST", "/v1/schedules/{schedule_id}/cancel"): Endpoint(
        Access.CUSTOMER_DATA, 200, _change("cancel"), other=Other.UNKNOWN
    ),
    ("GET", "/v1/history"): Endpoint(
        Access.CUSTOMER_DATA,
        200,
        _get("/v1/history"),
        other=Other.SEES_NOTHING_OF_ALICES,
        shows_alices=_items_show("schedule_id"),
    ),
    ("GET", "/v1/history/export.csv"): Endpoint(
        Access.CUSTOMER_DATA,
        200,
        _get("/v1/history/export.csv"),
        other=Other.SEES_NOTHING_OF_ALICES,
        shows_alices=_csv_shows,
    ),
    ("GET", "/v1/history/export.pdf"): Endpoint(
        Access.CUSTOMER_DATA,
        200,
        _get("/v1/history/export.pdf"),
        other=Other.SEES_NOTHING_OF_ALICES,
        shows_alices=_pdf_shows,
    ),
    ("GET", "/v1/operations"): Endpoint(
        Access.OPERATIONS,
        200,
        _get("/v1/operations"),
    ),
    ("POST", "/v1/operations/{operation_id}/redrive"): Endpoint(
        Access.OPERATIONS,
        200,
        lambda client, world, headers: client.post(
            f"/v1/operations/{world.failed_operation_id}/redrive",
            json={"reason": "credit account corrected"},
            headers=_keyed(headers),
        ),
    ),
    ("GET", "/v1/ops/status"): Endpoint(Access.OPERATIONS, 200, _get("/v1/ops/status")),
    ("GET", "/v1/audit"): Endpoint(Access.AUDIT, 200, _get("/v1/audit")),
    ("GET", "/v1/audit/verification"): Endpoint(
        Access.AUDIT,
        200,
        _get("/v1/audit/verification"),
    ),
}

#: Who gets an operation's success status, by its access (PUBLIC: everyone).
_ALLOWED = {
    Access.ANY_CALLER: frozenset(Caller) - {Caller.ANONYMOUS},
    Access.CUSTOMER_DATA: OWN,
    Access.OPERATIONS: frozenset({Caller.OPERATIONS, Caller.ADMIN}),
    Access.AUDIT: frozenset({Caller.AUDITOR, Caller.ADMIN}),
}


def expected_status(endpoint: Endpoint, caller: Caller) -> int:
    """The status `caller` must get from `endpoint`."""
    if endpoint.access is Access.PUBLIC:
        return endpoint.success
    if caller is Caller.ANONYMOUS:
        return 401
    if caller in _ALLOWED[endpoint.access]:
        return endpoint.success
    if endpoint.access is Access.CUSTOMER_DATA and caller in OTHER:
        assert endpoint.other is not None
        return endpoint.other.value
    return 403


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Alice's world, built once in a store file each test starts from a copy of."""
    directory = tmp_path_factory.mktemp("matrix")
    runtime = api.migrated_runtime(directory)
    signer = DevelopmentSigner(directory / "keys")
    try:
        with TestClient(create_app(runtime, signer.verifier())) as client:
            world = _build_world(client, signer, runtime)
    finally:
        runtime.close()
    return directory / api.STORE_FILE, world


def _build_world(
    client: TestClient, signer: DevelopmentSigner, runtime: bootstrap.Runtime
) -> World:
    alice = Caller.ALICE.headers(signer)
    created = client.post("/v1/schedules", json=MORTGAGE, headers=_keyed(alice))
    failing = one_time_transfer("2027-01-05", FAILED_AMOUNT) | {"credit_account": "GB-NOWHERE"}
    failed = client.post(
        "/v1/schedules", json=failing, headers=alice | {"Idempotency-Key": "matrix-0"}
    )
    assert (created.status_code, failed.status_code) == (201, 201), failed.text
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    clock.advance_to(WORLD_TIME)
    while runner.run_cycle(runtime, runner.LoopSettings()).claimed:
        pass
    staff = Caller.OPERATIONS.headers(signer)
    [stopped] = client.get("/v1/operations", headers=staff).json()["items"]
    return World(
        schedule_id=created.json()["id"],
        failed_schedule_id=failed.json()["id"],
        failed_operation_id=stopped["id"],
    )


@pytest.fixture
def runtime(tmp_path: Path, template: tuple[Path, World]) -> Iterator[bootstrap.Runtime]:
    """A runtime on a fresh copy of the template's store, at the template's time."""
    store = tmp_path / api.STORE_FILE
    shutil.copyfile(template[0], store)
    settings = Settings(database_url=f"sqlite:///{store}")
    runtime = bootstrap.build(settings, clock=SettableClock(WORLD_TIME), worker="api-test")
    yield runtime
    runtime.close()


@pytest.fixture
def world(template: tuple[Path, World]) -> World:
    return template[1]


def test_every_operation_of_the_api_is_in_the_matrix(client: TestClient) -> None:
    document = client.get("/v1/openapi.json").json()
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }

    assert operations == set(ENDPOINTS)


@pytest.mark.parametrize("caller", list(Caller), ids=lambda caller: caller.name.lower())
@pytest.mark.parametrize("operation", list(ENDPOINTS), ids=" ".join)
def test_each_caller_gets_what_its_roles_and_customer_allow(
    client: TestClient,
    signer: DevelopmentSigner,
    world: World,
    operation: tuple[str, str],
    caller: Caller,
) -> None:
    endpoint = ENDPOINTS[operation]
    response = endpoint.call(client, world, caller.headers(signer))

    assert response.status_code == expected_status(endpoint, caller), response.text
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
    if endpoint.shows_alices is not None and response.status_code == 200:
        assert endpoint.shows_alices(response, world) is (caller in OWN)
