"""History downloads through the Functions HTTP function, which answers whole: past
`EXPORT_LINK_THRESHOLD_ROWS` a download is written to the export store (here in
memory; on Azurite in tests/integration/test_functions_exports_azurite.py) and answered
with a link; below it, it is the response as before."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.export_memory import seed_attempts
from function_app import http_api
from scheduler import bootstrap
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.domain.money import Money
from tests.support import api, functions_http
from tests.support.export_store import MemoryExportStore

THRESHOLD = 5


@pytest.fixture
def store() -> MemoryExportStore:
    return MemoryExportStore()


@pytest.fixture
def handler(
    isolated_settings: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store: MemoryExportStore,
) -> Iterator[functions_http.Handler]:
    """The function over a runtime on a temporary store with the export store in
    memory and the threshold at THRESHOLD attempts."""
    runtime = api.migrated_runtime(tmp_path)
    settings = runtime.settings.model_copy(update={"export_link_threshold_rows": THRESHOLD})
    linked = dataclasses.replace(runtime, settings=settings, exports=store)
    monkeypatch.setattr(bootstrap, "process_runtime", lambda: linked)
    http_api.middleware.cache_clear()
    amounts = [Money.of(f"{number}.00", "GBP") for number in range(1, THRESHOLD + 2)]
    seed_attempts(runtime.engine, "alice", amounts, first_finished_at=api.NOW)
    seed_attempts(runtime.engine, "bob", amounts[:THRESHOLD], first_finished_at=api.NOW)
    yield functions_http.http_api()
    http_api.middleware.cache_clear()
    runtime.close()


def _token(tmp_path: Path, customer: str) -> str:
    # The app's development signer keeps its key in tmp_path/.tsched (isolated_settings
    # runs the test there).
    signer = DevelopmentSigner(tmp_path / http_api.DEVELOPMENT_KEYS)
    return signer.issue(customer, [Role.CUSTOMER], customer_id=customer)


def test_a_download_past_the_threshold_is_answered_with_a_link_to_the_whole_file(
    handler: functions_http.Handler, tmp_path: Path, store: MemoryExportStore
) -> None:
    response = functions_http.get(
        handler, "/v1/history/export.csv", token=_token(tmp_path, "alice")
    )

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    link = json.loads(response.get_body())
    stored = store.fetch(link["url"], now=api.NOW)
    assert stored is not None
    assert len(stored.content.decode().splitlines()) == 1 + THRESHOLD + 1


def test_a_download_at_the_threshold_is_the_response(
    handler: functions_http.Handler, tmp_path: Path, store: MemoryExportStore
) -> None:
    response = functions_http.get(handler, "/v1/history/export.csv", token=_token(tmp_path, "bob"))

    assert response.status_code == 200
    assert response.mimetype == "text/csv; charset=utf-8"
    assert len(response.get_body().decode().splitlines()) == 1 + THRESHOLD
    assert store.files == {}


def test_a_link_asked_is_a_link_however_small(
    handler: functions_http.Handler, tmp_path: Path, store: MemoryExportStore
) -> None:
    response = functions_http.get(
        handler,
        "/v1/history/export.pdf",
        token=_token(tmp_path, "bob"),
        params={"delivery": "link"},
    )

    assert response.mimetype == "application/json"
    assert json.loads(response.get_body())["media_type"] == "application/pdf"
    assert len(store.files) == 1
