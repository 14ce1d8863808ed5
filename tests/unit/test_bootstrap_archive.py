"""The runtime builds the archive from COSMOS_ENDPOINT, without contacting it, and
with none keeps the history in SQL alone."""

from __future__ import annotations

from pathlib import Path

from scheduler import bootstrap
from scheduler.adapters.cosmos.archive import CosmosArchive
from scheduler.adapters.sql.history import SqlHistoryRepository
from scheduler.config import Settings
from scheduler.service.hot_window import WindowedHistory
from tests.support.clock import SettableClock, january


def _settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'tsched.sqlite3'}", **values)


def test_without_an_endpoint_there_is_no_archive_and_sql_answers_the_history(
    tmp_path: Path,
) -> None:
    runtime = bootstrap.build(_settings(tmp_path), clock=SettableClock(january(1)))
    try:
        with runtime.unit_of_work() as uow:
            history = uow.history
    finally:
        runtime.close()

    assert runtime.archive is None
    assert isinstance(history, SqlHistoryRepository)


def test_an_endpoint_builds_the_archive_lazily_and_the_history_reads_across_the_window(
    tmp_path: Path,
) -> None:
    # Nothing listens there: building must not send a request.
    settings = _settings(tmp_path, cosmos_endpoint="https://127.0.0.1:9/")
    runtime = bootstrap.build(settings, clock=SettableClock(january(1)))
    try:
        with runtime.unit_of_work() as uow:
            history = uow.history
    finally:
        runtime.close()

    assert isinstance(runtime.archive, CosmosArchive)
    assert isinstance(history, WindowedHistory)
