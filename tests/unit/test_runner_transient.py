"""A dispatcher pass retries each step on a transient store error, not the whole pass:
a claim that failed is claimed again, an execute that failed runs again on the batch
already claimed (no second claim), and a real error is not retried. The store is a
SQLite file whose statements fail as Azure SQL's would (`tests.support.store_faults`)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler import bootstrap, runner
from scheduler.adapters.sql import migrate, tables
from scheduler.config import Settings
from scheduler.domain.money import Money
from scheduler.domain.operation import OperationStatus
from scheduler.ports import PaymentGateway, TransferRequest, TransferResult
from tests.support import schedules, store_faults
from tests.support.clock import SettableClock

CREATED_AT = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
#: Monday 15 February 2027, 10:00 in London (GMT), when the transfer below is due.
DUE_AT = datetime(2027, 2, 15, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    """A runtime on a migrated SQLite file, one GBP transfer due at DUE_AT and the clock
    just after it, paying through the embedded ledger."""
    clock = SettableClock(CREATED_AT)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'runner.sqlite3'}")
    runtime = bootstrap.build(settings, clock=clock, worker="worker-1")
    migrate.upgrade(runtime.engine)
    assert runtime.ledger is not None
    runtime.ledger.open_account(
        "GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("3000.00", "GBP")
    )
    runtime.ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    schedules.create(runtime.engine, clock, schedules.one_time_transfer("2027-02-15", "100.00"))
    clock.advance_to(DUE_AT + timedelta(seconds=1))
    yield runtime
    runtime.close()


def _claims(statement: str) -> bool:
    """Whether `statement` is the claim (SQLite's `CLAIM_DUE_OPERATIONS`)."""
    return " ".join(statement.split()).startswith("UPDATE operation SET status = 'claimed'")


def _balance(runtime: bootstrap.Runtime, account: str) -> Money:
    assert runtime.ledger is not None
    return runtime.ledger.balance(account)


def _attempts(runtime: bootstrap.Runtime) -> list[tuple[str, int]]:
    columns = tables.operation.c
    with runtime.engine.connect() as connection:
        rows = connection.execute(sa.select(columns.status, columns.attempts)).all()
    return [(row.status, row.attempts) for row in rows]


class FailingGateway:
    """A `PaymentGateway` whose first `times` calls fail with `error`; later calls go to
    `gateway`."""

    def __init__(self, gateway: PaymentGateway, error: Callable[[], Exception], times: int):
        self.calls = 0
        self._gateway = gateway
        self._error = error
        self._times = times

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        self.calls += 1
        if self.calls <= self._times:
            raise self._error()
        return self._gateway.transfer_many(requests)


def _store_error(number: int) -> Callable[[], Exception]:
    """A store error as SQLAlchemy raises it around pyodbc's, for SQL Server `number`."""

    def make() -> Exception:
        orig = Exception("HY000", store_faults.pyodbc_message(number))
        return sa.exc.OperationalError("EXEC transfer", {}, orig)

    return make


def test_a_claim_that_fails_transiently_is_retried_and_the_pass_pays_once(
    runtime: bootstrap.Runtime,
) -> None:
    faults = store_faults.StatementFaults(runtime.engine, _claims, times=1)
    waits: list[float] = []

    cycle = runner.run_cycle(runtime, runner.LoopSettings(), sleep=waits.append)

    assert (faults.failed, faults.seen) == (1, 2)
    assert len(waits) == 1
    assert (cycle.claimed, cycle.recorded) == (1, {OperationStatus.SUCCEEDED: 1})
    assert _balance(runtime, "GB-DEBIT-1") == Money.of("2900.00", "GBP")
    # The failed claim rolled back: the operation was claimed (attempted) once.
    assert _attempts(runtime) == [("succeeded", 1)]


def test_an_execute_that_fails_transiently_runs_again_on_the_same_claim(
    runtime: bootstrap.Runtime,
) -> None:
    gateway = FailingGateway(
        runtime.gateway, _store_error(store_faults.DATABASE_UNAVAILABLE), times=1
    )
    flaky = dataclasses.replace(runtime, gateway=gateway)
    claims = store_faults.StatementFaults(runtime.engine, _claims, times=0)
    waits: list[float] = []

    cycle = runner.run_cycle(flaky, runner.LoopSettings(), sleep=waits.append)

    assert gateway.calls == 2
    assert claims.seen == 1
    assert len(waits) == 1
    assert (cycle.claimed, cycle.recorded) == (1, {OperationStatus.SUCCEEDED: 1})
    assert _balance(runtime, "GB-DEBIT-1") == Money.of("2900.00", "GBP")
    assert _attempts(runtime) == [("succeeded", 1)]


def test_a_non_transient_store_error_fails_the_pass_at_once(
    runtime: bootstrap.Runtime,
) -> None:
    gateway = FailingGateway(
        runtime.gateway, _store_error(store_faults.PRIMARY_KEY_VIOLATION), times=1
    )
    waits: list[float] = []

    with pytest.raises(sa.exc.OperationalError):
        runner.run_cycle(
            dataclasses.replace(runtime, gateway=gateway), runner.LoopSettings(), sleep=waits.append
        )

    assert gateway.calls == 1
    assert waits == []
    assert _balance(runtime, "GB-DEBIT-1") == Money.of("3000.00", "GBP")


def test_a_claim_that_keeps_failing_raises_after_the_retries_are_used_up(
    runtime: bootstrap.Runtime,
) -> None:
    faults = store_faults.StatementFaults(runtime.engine, _claims, times=None)
    waits: list[float] = []

    with pytest.raises(sa.exc.OperationalError) as raised:
        runner.run_cycle(runtime, runner.LoopSettings(), sleep=waits.append)

    assert "(40613)" in str(raised.value.orig)
    assert faults.failed == 4
    assert len(waits) == 3
    assert _attempts(runtime) == [("pending", 0)]


class RecordingEvent(threading.Event):
    """A stop event that records how long it was asked to wait, and never waits."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_serve_waits_between_retries_on_its_stop_event(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` passes its stop event's wait as the retry sleep, so a stop request
    cuts a retry wait short instead of sleeping through it."""
    sleeps: list[Callable[[float], None]] = []
    real_run_cycle = runner.run_cycle

    def recording(*args: Any, **kwargs: Any) -> runner.Cycle:
        sleeps.append(kwargs["sleep"])
        return real_run_cycle(*args, **kwargs)

    monkeypatch.setattr(runner, "run_cycle", recording)
    stop = RecordingEvent()

    runner.serve(runtime, runner.LoopSettings(idle_sleep=0.0), stop=stop, until_idle=True)
    stop.waits.clear()
    sleeps[0](2.5)

    assert stop.waits == [2.5]
