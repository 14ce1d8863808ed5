"""The archive's settings: off without an endpoint, a 13-month hot window, items kept
seven years from when they happened."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scheduler.config import load_settings
from scheduler.domain import audit


@pytest.mark.usefixtures("isolated_settings")
def test_the_archive_is_off_by_default_with_a_13_month_window_and_7_year_retention() -> None:
    settings = load_settings()

    assert settings.cosmos_endpoint is None
    assert settings.cosmos_database == "tsched"
    assert settings.archive_hot_months == 13
    assert settings.archive_retention_days == audit.RETENTION_DAYS == 2562
    assert settings.archive_schedule == "0 * * * * *"


@pytest.mark.usefixtures("isolated_settings")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ARCHIVE_HOT_MONTHS", "0"),
        ("ARCHIVE_HOT_MONTHS", "121"),
        ("ARCHIVE_RETENTION_DAYS", "-1"),
        ("COSMOS_DATABASE", "db/with/slashes"),
        ("ARCHIVE_SCHEDULE", "* * * * *"),
    ],
)
def test_bad_archive_settings_are_refused(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.lower()):
        load_settings()


@pytest.mark.usefixtures("isolated_settings")
def test_a_hot_window_as_long_as_the_retention_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_HOT_MONTHS", "13")
    monkeypatch.setenv("ARCHIVE_RETENTION_DAYS", "400")

    with pytest.raises(ValidationError, match="ARCHIVE_HOT_MONTHS must be shorter"):
        load_settings()
