"""A download larger than a Functions response may hold, through the HTTP function, with
the runtime built from settings naming Azurite (`BLOB_ACCOUNT_URL`) as a local
`func start` has it: answered with a link, which reads the whole CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bench.export_memory import seed_attempts
from function_app import http_api
from scheduler import bootstrap
from scheduler.adapters import blob_exports
from scheduler.adapters.sql import migrate
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.config import Settings
from scheduler.domain.money import Money
from tests.services import azurite
from tests.support import functions_http
from tests.support.clock import SettableClock

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(
    isolated_settings: None,
    tmp_path: Path,
    azurite_blob: azurite.AzuriteBlob,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[bootstrap.Runtime]:
    """The process's runtime, built from settings with Azurite's URL, its clock at the
    real time (Azurite checks links against its own)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        blob_account_url=f"http://127.0.0.1:{azurite_blob.port}/{azurite.ACCOUNT_NAME}",
    )
    now = datetime.now(UTC).replace(microsecond=0)
    runtime = bootstrap.build(settings, clock=SettableClock(now), worker="functions-exports")
    migrate.upgrade(runtime.engine)
    monkeypatch.setattr(bootstrap, "process_runtime", lambda: runtime)
    http_api.middleware.cache_clear()
    yield runtime
    http_api.middleware.cache_clear()
    runtime.close()


def test_a_download_past_what_a_functions_response_holds_is_answered_with_a_link(
    runtime: bootstrap.Runtime, tmp_path: Path
) -> None:
    assert isinstance(runtime.exports, blob_exports.BlobExportStore)
    rows = http_api.MAX_EXPORT_ROWS + 1
    assert runtime.settings.export_link_threshold_rows < rows
    amounts = (Money.of(f"{1 + number % 500}.00", "GBP") for number in range(rows))
    seed_attempts(
        runtime.engine, "alice", amounts, first_finished_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    signer = DevelopmentSigner(tmp_path / http_api.DEVELOPMENT_KEYS)
    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")

    response = functions_http.get(functions_http.http_api(), "/v1/history/export.csv", token=token)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    link = json.loads(response.get_body())
    expires_at = runtime.clock.now() + timedelta(minutes=15)
    assert link["expires_at"] == expires_at.isoformat().replace("+00:00", "Z")
    fetched = httpx.get(link["url"])
    assert fetched.status_code == 200
    assert len(fetched.content) == link["size"]
    table = list(csv.DictReader(io.StringIO(fetched.text, newline="")))
    assert len(table) == rows
    assert {row["attempt"] for row in table} == {str(number) for number in range(1, rows + 1)}
