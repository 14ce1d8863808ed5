"""Which downloads go by link, and what a link answer holds: asked with `delivery=link`
anywhere, unasked past `EXPORT_LINK_THRESHOLD_ROWS` where the host holds whole
responses; without an export store, a link asked is a 422 and the host's cap holds;
a link is JSON naming a URL that expires, to the same bytes as the direct download,
under a random name; a store that fails is a 503 before anything is answered."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bench.export_memory import seed_attempts
from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api import history_routes
from scheduler.api.app import create_app
from scheduler.api.auth import CUSTOMER_HEADER, DevelopmentSigner, Role
from scheduler.api.exports import delivery
from scheduler.domain.money import Money
from tests.support.export_store import MemoryExportStore
from tests.unit.api.conftest import NOW, Headers

ROWS = 12
UVICORN = delivery.Limits(most=1_000_000, in_response=1_000_000, link_above=None)
FUNCTIONS = delivery.Limits(most=1_000_000, in_response=10_000, link_above=5_000)


@pytest.mark.parametrize(
    ("rows", "link_asked", "links", "limits", "chosen"),
    [
        (1_000_000, False, True, UVICORN, delivery.Delivery.RESPONSE),
        (1, True, True, UVICORN, delivery.Delivery.LINK),
        (5_000, False, True, FUNCTIONS, delivery.Delivery.RESPONSE),
        (5_001, False, True, FUNCTIONS, delivery.Delivery.LINK),
        (1, True, True, FUNCTIONS, delivery.Delivery.LINK),
        (10_000, False, False, FUNCTIONS, delivery.Delivery.RESPONSE),
        (1_000_000, False, True, FUNCTIONS, delivery.Delivery.LINK),
    ],
)
def test_a_download_goes_by_link_when_asked_or_past_the_threshold_where_responses_are_held(
    rows: int,
    link_asked: bool,
    links: bool,
    limits: delivery.Limits,
    chosen: delivery.Delivery,
) -> None:
    assert delivery.choose(rows, link_asked=link_asked, links=links, limits=limits) is chosen


def test_a_threshold_above_the_hosts_cap_acts_as_the_cap() -> None:
    limits = delivery.Limits(most=1_000_000, in_response=10_000, link_above=50_000)

    chosen = delivery.choose(10_001, link_asked=False, links=True, limits=limits)

    assert chosen is delivery.Delivery.LINK


@pytest.mark.parametrize(
    ("rows", "link_asked", "links", "cap"),
    [
        (1_000_001, True, True, 1_000_000),
        (1_000_001, False, True, 1_000_000),
        (10_001, False, False, 10_000),
    ],
)
def test_past_the_cap_of_its_delivery_a_download_is_refused_naming_the_cap(
    rows: int, link_asked: bool, links: bool, cap: int
) -> None:
    with pytest.raises(delivery.ExportTooLarge, match=f"more than {cap} attempts match"):
        delivery.choose(rows, link_asked=link_asked, links=links, limits=FUNCTIONS)


def test_a_link_asked_without_an_export_store_is_refused_naming_delivery() -> None:
    with pytest.raises(delivery.ExportLinksUnavailable) as refused:
        delivery.choose(1, link_asked=True, links=False, limits=UVICORN)

    assert refused.value.field == "delivery"


def test_counting_stops_one_past_the_most_the_download_may_hold() -> None:
    assert FUNCTIONS.to_count(links=True) == 1_000_001
    assert FUNCTIONS.to_count(links=False) == 10_001


# Through the API, with the export store in memory.


@pytest.fixture
def store() -> MemoryExportStore:
    return MemoryExportStore()


@pytest.fixture
def linked(runtime: bootstrap.Runtime, store: MemoryExportStore) -> bootstrap.Runtime:
    """The runtime with the store, ROWS attempts of Alice and one of Bob's."""
    amounts = [Money.of(f"{1 + number / 100:.2f}", "GBP") for number in range(ROWS)]
    seed_attempts(runtime.engine, "alice", amounts, first_finished_at=NOW)
    seed_attempts(runtime.engine, "bob", [Money.of("9.99", "GBP")], first_finished_at=NOW)
    return dataclasses.replace(runtime, exports=store)


def _app(runtime: bootstrap.Runtime, signer: DevelopmentSigner, **options: Any) -> FastAPI:
    return create_app(runtime, signer.verifier(), **options)


@pytest.fixture
def streaming(linked: bootstrap.Runtime, signer: DevelopmentSigner) -> Iterator[TestClient]:
    """The app as uvicorn serves it: responses stream."""
    with TestClient(_app(linked, signer)) as client:
        yield client


def _threshold(runtime: bootstrap.Runtime, rows: int) -> bootstrap.Runtime:
    settings = runtime.settings.model_copy(update={"export_link_threshold_rows": rows})
    return dataclasses.replace(runtime, settings=settings)


@pytest.fixture
def buffering(linked: bootstrap.Runtime, signer: DevelopmentSigner) -> Iterator[TestClient]:
    """The app as the Functions face builds it (a cap on responses), its threshold at
    ROWS - 1 attempts."""
    app = _app(_threshold(linked, ROWS - 1), signer, max_export_rows=ROWS)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("extension", ["csv", "pdf"])
def test_delivery_link_answers_json_naming_a_url_that_expires_after_the_link_lifetime(
    streaming: TestClient, headers: Headers, linked: bootstrap.Runtime, extension: str
) -> None:
    response = streaming.get(
        f"/v1/history/export.{extension}", params={"delivery": "link"}, headers=headers()
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    link = response.json()
    assert set(link) == {"url", "expires_at", "filename", "media_type", "size"}
    lifetime = timedelta(seconds=linked.settings.export_link_seconds)
    assert lifetime == timedelta(minutes=15)
    assert link["expires_at"] == (NOW + lifetime).isoformat().replace("+00:00", "Z")
    assert re.search(r"[?&]se=2027-01-01T12:15:00Z(&|$)", link["url"])
    assert link["filename"] == f"history-alice-20270101T120000Z.{extension}"


def test_the_linked_file_is_the_direct_download_byte_for_byte(
    streaming: TestClient, headers: Headers, store: MemoryExportStore
) -> None:
    direct = streaming.get("/v1/history/export.csv", headers=headers())
    link = streaming.get(
        "/v1/history/export.csv", params={"delivery": "link"}, headers=headers()
    ).json()

    stored = store.fetch(link["url"], now=NOW)
    assert stored is not None
    assert stored.content == direct.content
    assert link["size"] == len(direct.content)
    assert (stored.media_type, stored.filename) == (
        "text/csv; charset=utf-8",
        "history-alice-20270101T120000Z.csv",
    )
    assert store.fetch(link["url"], now=NOW + timedelta(minutes=15)) is None


def test_the_stored_name_is_a_random_id_that_names_no_customer(
    streaming: TestClient, headers: Headers, store: MemoryExportStore
) -> None:
    for _ in range(2):
        streaming.get("/v1/history/export.csv", params={"delivery": "link"}, headers=headers())

    names = list(store.files)
    assert len(set(names)) == 2
    for name in names:
        assert re.fullmatch(r"history/[0-9a-f-]{36}\.csv", name)
        assert "alice" not in name


def test_a_channels_link_export_is_audited_with_its_delivery_and_stored_name(
    streaming: TestClient,
    signer: DevelopmentSigner,
    linked: bootstrap.Runtime,
    store: MemoryExportStore,
) -> None:
    token = signer.issue("channel-mobile", [Role.CHANNEL])
    as_channel = {"Authorization": f"Bearer {token}", CUSTOMER_HEADER: "alice"}

    response = streaming.get(
        "/v1/history/export.csv", params={"delivery": "link"}, headers=as_channel
    )

    with linked.engine.connect() as connection:
        row = connection.execute(
            sa.select(tables.audit_record.c.details).where(
                tables.audit_record.c.action == "history.exported"
            )
        ).one()
    assert response.status_code == 200
    details = row.details if isinstance(row.details, dict) else json.loads(row.details)
    assert details["delivery"] == "link"
    assert details["export"] == next(iter(store.files))
    assert details["rows"] == ROWS


def test_where_responses_are_held_a_download_past_the_threshold_answers_a_link(
    buffering: TestClient, headers: Headers, linked: bootstrap.Runtime, store: MemoryExportStore
) -> None:
    past = buffering.get("/v1/history/export.csv", headers=headers())
    seed_attempts(
        linked.engine, "bob", [Money.of("1.00", "GBP")] * (ROWS - 2), first_finished_at=NOW
    )
    at = buffering.get("/v1/history/export.csv", headers=headers(customer="bob"))

    assert past.headers["content-type"] == "application/json"
    assert len(store.files) == 1
    assert at.headers["content-type"] == "text/csv; charset=utf-8"
    assert len(at.text.splitlines()) == ROWS


def test_where_responses_stream_only_a_link_asked_is_a_link(
    streaming: TestClient, headers: Headers, store: MemoryExportStore
) -> None:
    response = streaming.get("/v1/history/export.pdf", headers=headers())

    assert response.headers["content-type"] == "application/pdf"
    assert store.files == {}


def test_without_an_export_store_a_link_asked_is_a_422_problem_naming_delivery(
    runtime: bootstrap.Runtime, signer: DevelopmentSigner, headers: Headers
) -> None:
    with TestClient(_app(dataclasses.replace(runtime, exports=None), signer)) as client:
        response = client.get(
            "/v1/history/export.csv", params={"delivery": "link"}, headers=headers()
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tsched:problem:export_links_unavailable"
    assert [error["field"] for error in problem["errors"]] == ["delivery"]


def test_without_an_export_store_the_hosts_cap_still_refuses_a_larger_download(
    linked: bootstrap.Runtime, signer: DevelopmentSigner, headers: Headers
) -> None:
    app = _app(dataclasses.replace(linked, exports=None), signer, max_export_rows=ROWS - 1)
    with TestClient(app) as client:
        response = client.get("/v1/history/export.csv", headers=headers())

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"more than {ROWS - 1} attempts match")


def test_a_link_download_is_refused_past_the_overall_cap_before_anything_is_written(
    streaming: TestClient,
    headers: Headers,
    store: MemoryExportStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(history_routes, "MAX_EXPORT_ROWS", ROWS - 1)

    response = streaming.get(
        "/v1/history/export.csv", params={"delivery": "link"}, headers=headers()
    )

    assert response.status_code == 422
    assert response.json()["type"] == "urn:tsched:problem:export_too_large"
    assert store.files == {}


def test_a_store_that_fails_is_a_503_problem_saying_to_retry(
    streaming: TestClient, headers: Headers, store: MemoryExportStore
) -> None:
    store.failing = True

    response = streaming.get(
        "/v1/history/export.csv", params={"delivery": "link"}, headers=headers()
    )

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.headers["cache-control"] == "no-store"
    problem = response.json()
    assert problem["type"] == "urn:tsched:problem:export_store_unavailable"
    assert problem["retry"] is True


def test_delivery_takes_link_and_nothing_else(streaming: TestClient, headers: Headers) -> None:
    response = streaming.get(
        "/v1/history/export.csv", params={"delivery": "inline"}, headers=headers()
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["delivery"]
