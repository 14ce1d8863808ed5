"""The dispatcher loop through a store that cannot be used: it waits out a store that
is unavailable wherever it meets it (a pass, the idle wait's look at the next due time,
the start), with a doubling wait and one line each time, and stops only when the store
refuses its settings. The store is a SQLite file whose statements fail as a driver's
would (`tests.support.store_faults`); tests/integration/test_serve_store_outage.py
restarts a real PostgreSQL under `tsched serve` processes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler import bootstrap, runner
from scheduler.adapters.sql import migrate
from scheduler.backoff import Backoff
from scheduler.config import Settings
from tests.support import store_faults
from tests.support.clock import SettableClock

NOW = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
#: SQL Server's "login failed": the store refusing who we are.
LOGIN_FAILED = 18456
#: SQL Server's "could not open a connection" (the server is down or out of reach): not
#: one of the transient errors a step retries in place, so it reaches the loop.
SERVER_DOWN = 53
NO_WAIT = runner.LoopSettings(idle_sleep=0.0, backoff=Backoff(first=0.0, last=0.0))


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    """A runtime on a migrated, empty SQLite store: every pass is idle."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'outage.sqlite3'}")
    runtime = bootstrap.build(settings, clock=SettableClock(NOW), worker="worker-1")
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def _looks_for_the_next_due_time(statement: str) -> bool:
    return "min(operation.available_at)" in statement


def _claims(statement: str) -> bool:
    return " ".join(statement.split()).startswith("UPDATE operation SET status = 'claimed'")


def _serve_passes(runtime: bootstrap.Runtime, passes: int, loop: runner.LoopSettings) -> None:
    """Run `runner.serve` until `passes` passes have completed."""
    stop = threading.Event()
    done: list[runner.Cycle] = []

    def on_cycle(cycle: runner.Cycle) -> None:
        done.append(cycle)
        if len(done) >= passes:
            stop.set()

    runner.serve(runtime, loop, stop=stop, on_cycle=on_cycle)


def test_an_idle_dispatcher_rides_through_the_store_failing_as_it_waits_for_the_next_due_time(
    runtime: bootstrap.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    faults = store_faults.StatementFaults(
        runtime.engine, _looks_for_the_next_due_time, number=SERVER_DOWN, times=3
    )

    with caplog.at_level(logging.WARNING, logger="scheduler.runner"):
        _serve_passes(runtime, 5, NO_WAIT)

    assert faults.failed == 3
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"the store is unavailable (OperationalError {SERVER_DOWN}); "
        f"dispatch pass failed ({n} in a row), next attempt in 0.0 s"
        for n in (1, 2, 3)
    ] + ["dispatching again after 3 failed passes"]
    assert all(record.exc_info is None for record in caplog.records)


def test_the_wait_between_failed_passes_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first=0.5, last=10.0)

    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_dispatcher_the_store_refuses_stops_and_raises(runtime: bootstrap.Runtime) -> None:
    store_faults.StatementFaults(runtime.engine, _claims, number=LOGIN_FAILED, times=None)

    with pytest.raises(sa.exc.OperationalError, match=str(LOGIN_FAILED)):
        _serve_passes(runtime, 5, NO_WAIT)


def test_a_start_waits_for_a_store_that_is_unavailable(
    runtime: bootstrap.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    faults = store_faults.StatementFaults(
        runtime.engine, lambda _: True, number=SERVER_DOWN, times=2
    )

    def look() -> None:
        with runtime.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    with caplog.at_level(logging.WARNING, logger="scheduler.runner"):
        ready = runner.wait_for_store(
            look, what="starting", stop=threading.Event(), backoff=NO_WAIT.backoff
        )

    assert ready is True
    assert faults.failed == 2
    assert len(caplog.records) == 2
    assert caplog.records[0].getMessage().startswith("starting: the store is unavailable")


def test_a_start_told_to_stop_while_it_waits_gives_up_quietly(runtime: bootstrap.Runtime) -> None:
    store_faults.StatementFaults(runtime.engine, lambda _: True, times=None)
    stop = threading.Event()
    stop.set()

    def look() -> None:
        with runtime.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    assert runner.wait_for_store(look, what="starting", stop=stop) is False


def test_a_start_the_store_refuses_raises_at_once(runtime: bootstrap.Runtime) -> None:
    faults = store_faults.StatementFaults(
        runtime.engine, lambda _: True, number=LOGIN_FAILED, times=None
    )

    def look() -> None:
        with runtime.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    with pytest.raises(sa.exc.OperationalError):
        runner.wait_for_store(look, what="starting", stop=threading.Event())
    assert faults.failed == 1
