"""What the API tests share: a runtime on a migrated SQLite file, its clock at NOW."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.config import Settings
from tests.support.clock import SettableClock

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite3'}")
    runtime = bootstrap.build(settings, clock=SettableClock(NOW), worker="api-test")
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()
