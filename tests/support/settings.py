"""Keeping the developer's settings out of tests that load settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.config import Settings, load_settings

#: Every setting's name as an environment variable and app setting.
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)


@pytest.fixture
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No setting in the environment, no local.settings.json, no cached settings."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()
