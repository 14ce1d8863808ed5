"""The archive timer: off without an archive; with one, a tick archives what SQL holds
and purges what is past the hot window, on its own app setting, never on startup."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

from durable import archive as archive_timer
from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.config import Settings
from tests.support.archive import InMemoryArchive
from tests.support.clock import SettableClock
from tests.support.history_rows import HistoryRows

NOW = datetime(2027, 1, 10, 9, tzinfo=UTC)


class _Tick(func.TimerRequest):
    @property
    def past_due(self) -> bool:
        return False


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    url = f"sqlite:///{tmp_path / 'tsched.sqlite3'}"
    migrate.upgrade(url)
    runtime = bootstrap.build(Settings(database_url=url), clock=SettableClock(NOW))
    yield runtime
    runtime.close()


def test_a_tick_without_an_archive_does_nothing(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = HistoryRows(runtime.engine)
    rows.add(NOW - timedelta(days=900))
    monkeypatch.setattr(bootstrap, "process_runtime", lambda: runtime)

    archive_timer.archive_history_and_audit(_Tick())

    assert len(rows.ids()) == 1


def test_a_tick_archives_then_purges_what_is_past_the_window(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = HistoryRows(runtime.engine)
    old, recent = rows.add(NOW - timedelta(days=900)), rows.add(NOW - timedelta(days=1))
    archive = InMemoryArchive()
    monkeypatch.setattr(
        bootstrap, "process_runtime", lambda: dataclasses.replace(runtime, archive=archive)
    )

    archive_timer.archive_history_and_audit(_Tick())

    assert sorted(archive.attempts) == [old, recent]
    assert rows.ids() == [recent]


def test_the_timer_runs_on_the_archive_schedule_setting_never_on_startup() -> None:
    blueprint = df.Blueprint()
    archive_timer.register(blueprint)
    app = df.DFApp()
    app.register_functions(blueprint)

    (function,) = app.get_functions()
    (trigger,) = (b for b in function.get_bindings() if b.type == "timerTrigger")

    assert function.get_function_name() == "archive_history_and_audit"
    assert trigger.get_dict_repr()["schedule"] == "%ARCHIVE_SCHEDULE%"
    assert not trigger.get_dict_repr().get("runOnStartup")
