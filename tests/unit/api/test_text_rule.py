"""The text rule over HTTP (`domain.text`): every kind of refused character, in every
field a caller sends that is stored (a document's text, the re-drive reason, the ids in
headers, the filters an audited read keeps), is a 422 `forbidden_character` problem
naming that field, and changes nothing in the store; ordinary Unicode goes through.

The store is shared by the module (a refused request changes nothing, and each test
proves it); what a test adds on success is its own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scheduler import bootstrap, runner
from scheduler.adapters.sql import tables
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from tests.support import api
from tests.support.clock import SettableClock
from tests.support.schedules import MORTGAGE, one_time_transfer
from tests.unit.api.conftest import Headers

#: One of each kind of character the rule refuses, by name.
REFUSED = {
    "NUL": "\x00",
    "ESC": "\x1b",
    "TAB": "\t",
    "LF": "\n",
    "CR": "\r",
    "DEL": "\x7f",
    "NEL (C1)": "\x85",
    "CSI (C1)": "\x9b",
    "LRE": "\u202a",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "PDI": "\u2069",
    "LINE SEPARATOR": "\u2028",
    "PARAGRAPH SEPARATOR": "\u2029",
    "lone surrogate": "\ud800",
}
#: What a URL or a header can carry, as UTF-8: all but the lone surrogate. (A header is
#: read as Latin-1, so the UTF-8 of U+202E arrives as "\xe2\x80\xae", and is refused
#: for its C1 control U+0080.)
REFUSED_AS_UTF8 = {name: char for name, char in REFUSED.items() if name != "lone surrogate"}

#: A document field, the JSON path of a value holding `{}`, and what it holds around it.
CREATE_FIELDS = {
    "reference": ("Rent {} March", ("reference",)),
    "debit_account": ("GB-DEBIT{}-1", ("debit_account",)),
    "credit_account": ("GB-CREDIT{}-1", ("credit_account",)),
    "time_zone": ("Europe/{}London", ("time_zone",)),
    "business_days.calendar": ("GB{}-ENG", ("business_days", "calendar")),
    "reminders.0": ("P{}1D", ("reminders", 0)),
}
AMEND_FIELDS = {name: CREATE_FIELDS[name] for name in ("reference", "time_zone", "reminders.0")}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A runtime with Alice's mortgage (to amend) and a transfer of hers to an account
    nobody has, FAILED (to re-drive), its clock on 5 January 2027 at 10:00."""
    directory: Path = tmp_path_factory.mktemp("text-rule")
    runtime = api.migrated_runtime(directory)
    signer = DevelopmentSigner(directory / "keys")
    with TestClient(create_app(runtime, signer.verifier())) as client:
        alice = _bearer(signer.issue("alice", [Role.CUSTOMER], customer_id="alice"))
        mortgage = client.post("/v1/schedules", json=MORTGAGE, headers=alice | _key("m"))
        nowhere = one_time_transfer("2027-01-05", "10.00") | {"credit_account": "GB-NOWHERE"}
        failing = client.post("/v1/schedules", json=nowhere, headers=alice | _key("f"))
        assert (mortgage.status_code, failing.status_code) == (201, 201)
        clock = runtime.clock
        assert isinstance(clock, SettableClock)
        clock.advance_to(datetime(2027, 1, 5, 10, 0, tzinfo=UTC))
        runner.run_cycle(runtime, runner.LoopSettings())
        with runtime.engine.connect() as connection:
            failed = connection.execute(
                sa.select(tables.operation.c.id).where(tables.operation.c.status == "failed")
            ).scalar_one()
        yield {
            "runtime": runtime,
            "client": client,
            "signer": signer,
            "alice": alice,
            "mortgage": mortgage.json()["id"],
            "failed": str(failed),
        }
    runtime.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _key(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def _with(document: dict[str, Any], path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    """A deep copy of `document` with the value at `path` replaced."""
    copied: dict[str, Any] = json.loads(json.dumps(document))
    parent: Any = copied
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return copied


def _json_body(document: dict[str, Any]) -> dict[str, Any]:
    """Request arguments sending `document` as JSON with \\u escapes (a lone surrogate
    has no UTF-8, so it can only be sent escaped, as any client may)."""
    return {"content": json.dumps(document), "headers": {"Content-Type": "application/json"}}


def _contents(runtime: bootstrap.Runtime) -> dict[str, list[str]]:
    """Every row of every table."""
    with runtime.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(sa.select(table)))
            for table in tables.metadata.sorted_tables
        }


def _refused(store: dict[str, Any], field: str, send: Any) -> None:
    """`send()` is answered with a forbidden_character problem naming `field` only, and
    the store holds exactly what it held before."""
    before = _contents(store["runtime"])

    response = send()

    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tsched:problem:forbidden_character"
    assert problem["title"] == "The text holds a character that is not allowed."
    assert [error["field"] for error in problem["errors"]] == [field]
    assert _contents(store["runtime"]) == before


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("field", CREATE_FIELDS)
def test_a_create_with_a_refused_character_is_a_422_naming_the_field(
    store: dict[str, Any], field: str, char: str
) -> None:
    template, path = CREATE_FIELDS[field]
    document = _with(MORTGAGE | {"reminders": ["P1D"]}, path, template.format(char))
    arguments = _json_body(document)
    arguments["headers"] |= store["alice"] | _key(f"create-{field}-{ord(char)}")

    _refused(store, field, lambda: store["client"].post("/v1/schedules", **arguments))


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("field", AMEND_FIELDS)
def test_an_amendment_with_a_refused_character_is_a_422_naming_the_field(
    store: dict[str, Any], field: str, char: str
) -> None:
    template, path = AMEND_FIELDS[field]
    change = _with({"reminders": ["P1D"]}, path, template.format(char))
    arguments = _json_body(change)
    arguments["headers"] |= store["alice"] | {"If-Match": '"1"'}
    url = f"/v1/schedules/{store['mortgage']}"

    _refused(store, field, lambda: store["client"].patch(url, **arguments))


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
def test_a_redrive_reason_with_a_refused_character_is_a_422_naming_it(
    store: dict[str, Any], char: str
) -> None:
    staff = _bearer(store["signer"].issue("ops-1", [Role.OPERATIONS]))
    arguments = _json_body({"reason": f"customer{char} topped up"})
    arguments["headers"] |= staff | _key(f"redrive-{ord(char)}")
    url = f"/v1/operations/{store['failed']}/redrive"

    _refused(store, "reason", lambda: store["client"].post(url, **arguments))


@pytest.mark.parametrize("char", REFUSED_AS_UTF8.values(), ids=REFUSED_AS_UTF8.keys())
@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Request-Id"])
def test_a_stored_header_with_a_refused_character_is_a_422_naming_it(
    store: dict[str, Any], header: str, char: str
) -> None:
    headers: dict[str, str | bytes] = {**store["alice"], **_key("k-header")}
    headers[header] = f"req{char}42".encode()

    _refused(
        store,
        header,
        lambda: store["client"].post("/v1/schedules", json=MORTGAGE, headers=headers),
    )


@pytest.mark.parametrize("char", REFUSED_AS_UTF8.values(), ids=REFUSED_AS_UTF8.keys())
def test_a_customer_a_channel_names_with_a_refused_character_is_a_422_naming_the_header(
    store: dict[str, Any], char: str
) -> None:
    channel = _bearer(store["signer"].issue("channel-mobile", [Role.CHANNEL]))
    headers: dict[str, str | bytes] = {**channel, **_key("k-channel")}
    headers["X-Customer-Id"] = f"alice{char}".encode()

    _refused(
        store,
        "X-Customer-Id",
        lambda: store["client"].post("/v1/schedules", json=MORTGAGE, headers=headers),
    )


@pytest.mark.parametrize("char", REFUSED_AS_UTF8.values(), ids=REFUSED_AS_UTF8.keys())
@pytest.mark.parametrize(
    ("path", "role", "parameter"),
    [
        ("/v1/audit", Role.AUDITOR, "customer_id"),
        ("/v1/audit", Role.AUDITOR, "action"),
        ("/v1/operations", Role.OPERATIONS, "customer_id"),
        ("/v1/operations", Role.OPERATIONS, "cursor"),
        ("/v1/schedules", Role.CUSTOMER, "cursor"),
        ("/v1/history", Role.CUSTOMER, "cursor"),
    ],
)
def test_an_audited_filter_with_a_refused_character_is_a_422_naming_it(
    store: dict[str, Any], path: str, role: Role, parameter: str, char: str
) -> None:
    customer = "alice" if role is Role.CUSTOMER else None
    caller = _bearer(store["signer"].issue("someone", [role], customer_id=customer))
    params = {parameter: f"ab{char}cd"}

    _refused(store, parameter, lambda: store["client"].get(path, params=params, headers=caller))


ORDINARY = {
    "accents": "Loyer déc. — Ærøskøbing façade",
    "CJK": "家賃 十二月 월세",
    "emoji": "Rent 🏠 👩‍👩‍👧 ❤️",
    "right to left": "שכר דירה إيجار",
    "marks": "abc\u200edef\u200fghi",
}


@pytest.mark.parametrize("reference", ORDINARY.values(), ids=ORDINARY.keys())
def test_ordinary_unicode_in_a_reference_is_stored_and_returned_as_sent(
    store: dict[str, Any], reference: str
) -> None:
    client = store["client"]
    document = one_time_transfer("2027-02-01", "1.00") | {"reference": reference}

    created = client.post(
        "/v1/schedules", json=document, headers=store["alice"] | _key(str(uuid.uuid4()))
    )

    assert created.status_code == 201, created.text
    read = client.get(f"/v1/schedules/{created.json()['id']}", headers=store["alice"])
    assert read.json()["schedule"]["reference"] == reference


def test_ordinary_unicode_in_a_redrive_reason_is_accepted(store: dict[str, Any]) -> None:
    staff = _bearer(store["signer"].issue("ops-1", [Role.OPERATIONS]))
    url = f"/v1/operations/{store['failed']}/redrive"

    response = store["client"].post(
        url, json={"reason": "client a réglé 💶 — 客户已付款"}, headers=staff | _key("ok")
    )

    assert response.status_code == 200, response.text
    assert response.json()["reason"] == "client a réglé 💶 — 客户已付款"


# --- with a store of the test's own ---------------------------------------------------


def test_a_trace_id_that_is_not_lower_case_hex_is_ignored_for_the_request_id(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e47\x1b6-00f067aa0ba902b7-01"

    response = client.post(
        "/v1/schedules",
        json=MORTGAGE,
        headers=headers(key="k-1", traceparent=traceparent, **{"X-Request-Id": "req-7"}),
    )

    assert response.status_code == 201, response.text
    t = tables.audit_record
    with runtime.engine.connect() as connection:
        stored = connection.execute(sa.select(t.c.correlation_id)).scalar_one()
    assert stored == "req-7"


def test_a_schedule_stored_before_the_rule_stays_readable_and_an_amendment_must_mend_it(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    created = client.post("/v1/schedules", json=MORTGAGE, headers=headers(key="k-1")).json()
    t = tables.schedule
    legacy = created["schedule"] | {"reference": "Rent\tMarch"}
    with runtime.engine.begin() as connection:
        connection.execute(sa.update(t).values(definition=legacy))
    url = f"/v1/schedules/{created['id']}"

    read = client.get(url, headers=headers())
    keeping = client.patch(
        url, json={"time_of_day": "10:00"}, headers=headers(**{"If-Match": '"1"'})
    )
    mending = client.patch(
        url,
        json={"time_of_day": "10:00", "reference": "Rent March"},
        headers=headers(**{"If-Match": '"1"'}),
    )

    assert (read.status_code, read.json()["schedule"]["reference"]) == (200, "Rent\tMarch")
    assert keeping.status_code == 422
    assert [error["field"] for error in keeping.json()["errors"]] == ["reference"]
    assert (mending.status_code, mending.json()["schedule"]["reference"]) == (200, "Rent March")
