"""The store the use-case tests run against: a migrated SQLite file of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.engine import create_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'tsched.sqlite3'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
