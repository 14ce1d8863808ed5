"""The settings of exports to Blob storage, how the runtime reads them, and what Bicep
deploys: links last 15 minutes unless set (never more than a day, the life of an
export in the container), the Functions threshold is the response cap, no
BLOB_ACCOUNT_URL means no export store, and the exports container deletes its blobs
after a day."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from function_app import http_api
from scheduler import bootstrap
from scheduler.adapters import blob_exports
from scheduler.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
STORAGE_BICEP = ROOT / "bicep" / "app" / "storage.bicep"
FUNCTIONS_BICEP = ROOT / "bicep" / "app" / "functions.bicep"
A_DAY = 86_400


@pytest.mark.usefixtures("isolated_settings")
def test_by_default_links_last_15_minutes_past_the_functions_response_cap() -> None:
    settings = load_settings()

    assert settings.export_link_seconds == 15 * 60
    assert settings.export_link_threshold_rows == http_api.MAX_EXPORT_ROWS


@pytest.mark.usefixtures("isolated_settings")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXPORT_LINK_SECONDS", str(A_DAY + 1)),
        ("EXPORT_LINK_SECONDS", "0"),
        ("EXPORT_LINK_THRESHOLD_ROWS", "0"),
    ],
)
def test_a_link_may_not_outlive_its_export_nor_a_threshold_be_zero(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.lower()):
        load_settings()


@pytest.mark.usefixtures("isolated_settings")
def test_without_blob_account_url_the_runtime_has_no_export_store(tmp_path: Path) -> None:
    runtime = bootstrap.build(Settings(database_url=f"sqlite:///{tmp_path / 's.sqlite3'}"))
    try:
        assert runtime.exports is None
    finally:
        runtime.close()


@pytest.mark.usefixtures("isolated_settings")
def test_an_http_blob_account_url_is_azurites_development_account_or_refused(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    runtime = bootstrap.build(
        Settings(database_url=url, blob_account_url="http://127.0.0.1:10000/devstoreaccount1")
    )
    try:
        assert isinstance(runtime.exports, blob_exports.BlobExportStore)
    finally:
        runtime.close()
    with pytest.raises(ValueError, match="Azurite"):
        bootstrap.build(
            Settings(database_url=url, blob_account_url="http://127.0.0.1:10000/someaccount")
        )


def test_the_exports_container_deletes_what_it_holds_after_a_day() -> None:
    text = STORAGE_BICEP.read_text(encoding="utf-8")
    policy = text[text.index("resource exportsLifecycle 'managementPolicies'") :]

    assert re.search(r"prefixMatch: \[\s*'exports/'\s*\]", policy)
    assert re.search(r"delete: \{\s*daysAfterCreationGreaterThan: 1\s*\}", policy)
    assert f"'{blob_exports.CONTAINER}'" in text


def test_bicep_bounds_the_export_settings_as_the_app_does() -> None:
    text = FUNCTIONS_BICEP.read_text(encoding="utf-8")

    assert re.search(r"@maxValue\(10000\)\s*param exportLinkThresholdRows int = 10000", text)
    assert re.search(rf"@maxValue\({A_DAY}\)\s*param exportLinkSeconds int = 900", text)
    assert http_api.MAX_EXPORT_ROWS == 10_000
