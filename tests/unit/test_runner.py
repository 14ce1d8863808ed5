"""The dispatcher loop of `tsched serve` (`runner.run_cycle` and `runner.serve`) on a
SQLite store, the embedded ledger and a clock the test sets."""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler import bootstrap, runner
from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import migrate, tables
from scheduler.backoff import Backoff
from scheduler.config import Settings
from scheduler.domain.events import EventType, StoredEvent
from scheduler.domain.money import Money
from scheduler.domain.operation import OperationStatus
from scheduler.ports import PaymentGateway, StoredResponse, TransferRequest, TransferResult
from scheduler.service.execute_claimed import TransactionMode
from scheduler.service.verify_audit import verify_audit
from tests.support import schedules
from tests.support.clock import SettableClock
from tests.support.publishers import RecordingPublisher
from tests.support.slow_gateway import SlowGateway


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


CREATED_AT = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
#: Monday 15 February 2027, 10:00 in London (GMT), when the transfers below are due.
DUE_AT = datetime(2027, 2, 15, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
#: Loop settings that never sleep, so a test of `serve` takes no real time.
NO_SLEEP = runner.LoopSettings(idle_sleep=0.0, backoff=Backoff(first=0.0, last=0.0))


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(CREATED_AT)


@pytest.fixture
def runtime(tmp_path: Path, clock: SettableClock) -> Iterator[bootstrap.Runtime]:
    """A runtime on a migrated SQLite file with two GBP accounts, paying through the
    embedded ledger, events staying in the outbox."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'runner.sqlite3'}")
    runtime = bootstrap.build(settings, clock=clock, worker="worker-1")
    migrate.upgrade(runtime.engine)
    ledger = _ledger(runtime)
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("3000.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    yield runtime
    runtime.close()


def _ledger(runtime: bootstrap.Runtime) -> Ledger:
    assert runtime.ledger is not None
    return runtime.ledger


def _create_transfer(
    runtime: bootstrap.Runtime, *, amount: str = "100.00", reminders: Sequence[str] = ()
) -> uuid.UUID:
    """A one-time GBP transfer due at `DUE_AT`, created at the clock's time."""
    document = schedules.one_time_transfer("2027-02-15", amount, reminders=reminders)
    return schedules.create(runtime.engine, runtime.clock, document)


def _count(runtime: bootstrap.Runtime, table: sa.Table) -> int:
    with runtime.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _operation_rows(runtime: bootstrap.Runtime) -> Sequence[sa.Row[Any, Any, Any, Any]]:
    """Kind, status, attempts and lease expiry of every operation, by due time."""
    columns = tables.operation.c
    with runtime.engine.connect() as connection:
        return connection.execute(
            sa.select(
                columns.kind, columns.status, columns.attempts, columns.lease_expires_at
            ).order_by(columns.due_at, columns.kind)
        ).all()


def _unpublished(runtime: bootstrap.Runtime) -> list[StoredEvent]:
    with runtime.unit_of_work() as uow:
        return uow.outbox.unpublished(100)


class RaisingOnceGateway:
    """A `PaymentGateway` whose first call raises (after moving the clock past the
    lease, as the time a hung call would take); later calls go to `gateway`."""

    def __init__(self, gateway: PaymentGateway, clock: SettableClock) -> None:
        self.calls = 0
        self._gateway = gateway
        self._clock = clock

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        self.calls += 1
        if self.calls == 1:
            self._clock.advance_to(self._clock.now() + LEASE + timedelta(seconds=1))
            raise ConnectionError("gateway went away")
        return self._gateway.transfer_many(requests)


@pytest.mark.parametrize("mode", list(TransactionMode))
def test_a_cycle_claims_executes_and_seals_the_audit_trail(
    runtime: bootstrap.Runtime, clock: SettableClock, mode: TransactionMode
) -> None:
    _create_transfer(runtime)
    clock.advance_to(DUE_AT + timedelta(seconds=1))

    cycle = runner.run_cycle(runtime, runner.LoopSettings(mode=mode))

    # Audit records: schedule.created, operation.succeeded, schedule.completed.
    assert cycle == runner.Cycle(claimed=1, recorded={OperationStatus.SUCCEEDED: 1}, sealed=3)
    assert cycle.busy
    assert _ledger(runtime).balance("GB-DEBIT-1") == Money.of("2900.00", "GBP")
    assert _ledger(runtime).balance("GB-CREDIT-1") == Money.of("100.00", "GBP")
    assert [(row.kind, row.status, row.attempts) for row in _operation_rows(runtime)] == [
        ("execution", "succeeded", 1)
    ]
    report = verify_audit(uow=runtime.unit_of_work())
    assert (report.ok, report.records_checked, report.unsealed_records) == (True, 3, 0)
    # Without a publisher the events stay in the outbox for `tsched events`.
    assert [stored.event.type for stored in _unpublished(runtime)] == [
        EventType.SCHEDULE_CREATED,
        EventType.EXECUTION_SUCCEEDED,
        EventType.SCHEDULE_COMPLETED,
    ]

    again = runner.run_cycle(runtime, runner.LoopSettings(mode=mode))
    assert again == runner.Cycle(claimed=0)
    assert not again.busy
    assert _count(runtime, tables.execution_attempt) == 1


def test_a_cycle_before_anything_is_due_only_seals(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    _create_transfer(runtime)
    clock.advance_to(DUE_AT - timedelta(seconds=1))

    assert runner.run_cycle(runtime, runner.LoopSettings()) == runner.Cycle(claimed=0, sealed=1)
    assert runner.run_cycle(runtime, runner.LoopSettings()) == runner.Cycle(claimed=0)
    assert [row.status for row in _operation_rows(runtime)] == ["pending"]


def test_a_cycle_claims_at_most_the_batch_size(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    for _ in range(3):
        _create_transfer(runtime)
    clock.advance_to(DUE_AT + timedelta(seconds=1))
    loop = runner.LoopSettings(batch_size=2)

    claims = [runner.run_cycle(runtime, loop).claimed for _ in range(3)]

    assert claims == [2, 1, 0]
    assert _ledger(runtime).balance("GB-DEBIT-1") == Money.of("2700.00", "GBP")


def test_a_cycle_records_reminders_and_insufficient_funds(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    _create_transfer(runtime, amount="5000.00", reminders=["PT1H"])

    clock.advance_to(DUE_AT - timedelta(hours=1))
    reminder = runner.run_cycle(runtime, runner.LoopSettings())
    assert (reminder.claimed, reminder.recorded) == (1, {OperationStatus.SUCCEEDED: 1})

    clock.advance_to(DUE_AT)
    declined = runner.run_cycle(runtime, runner.LoopSettings())
    assert (declined.claimed, declined.recorded) == (1, {OperationStatus.RETRY_WAIT: 1})
    assert _ledger(runtime).balance("GB-DEBIT-1") == Money.of("3000.00", "GBP")


@pytest.mark.parametrize(
    ("cycle", "busy"),
    [
        (runner.Cycle(claimed=0), False),
        (runner.Cycle(claimed=1), True),
        (runner.Cycle(claimed=0, sealed=1), True),
        (runner.Cycle(claimed=0, errors=2, lost_leases=1), False),
        (runner.Cycle(claimed=2, recorded={OperationStatus.SUCCEEDED: 2}), True),
    ],
)
def test_a_cycle_is_busy_when_it_claimed_or_sealed(cycle: runner.Cycle, busy: bool) -> None:
    assert cycle.busy is busy


def test_loop_settings_defaults() -> None:
    assert runner.LoopSettings() == runner.LoopSettings(
        batch_size=500, lease=timedelta(seconds=60), mode=TransactionMode.BATCH, idle_sleep=0.5
    )


def test_a_pass_publishes_nothing_even_with_a_publisher(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    # Publishing waits on the broker: it runs beside the loop (scheduler.relay).
    _create_transfer(runtime)
    clock.advance_to(DUE_AT + timedelta(seconds=1))
    publisher = RecordingPublisher()

    runner.run_cycle(dataclasses.replace(runtime, publisher=publisher), runner.LoopSettings())

    assert publisher.batches == []
    assert len(_unpublished(runtime)) == 3


def test_serve_until_idle_runs_passes_until_one_finds_nothing(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    for _ in range(3):
        _create_transfer(runtime)
    clock.advance_to(DUE_AT + timedelta(seconds=1))
    cycles: list[runner.Cycle] = []
    stop = threading.Event()

    runner.serve(
        runtime,
        dataclasses.replace(NO_SLEEP, batch_size=2),
        stop=stop,
        on_cycle=cycles.append,
        until_idle=True,
    )

    # The first pass seals; the second, busy within the seal interval, leaves its
    # records to the first pass that finds nothing due, which seals them and so is busy.
    assert [cycle.claimed for cycle in cycles] == [2, 1, 0, 0]
    assert [cycle.sealed > 0 for cycle in cycles] == [True, False, True, False]
    assert [cycle.busy for cycle in cycles] == [True, True, True, False]
    assert not stop.is_set()
    assert _ledger(runtime).balance("GB-DEBIT-1") == Money.of("2700.00", "GBP")


def test_serve_until_idle_with_nothing_due_runs_one_pass(runtime: bootstrap.Runtime) -> None:
    cycles: list[runner.Cycle] = []
    runner.serve(runtime, NO_SLEEP, stop=threading.Event(), on_cycle=cycles.append, until_idle=True)
    assert cycles == [runner.Cycle(claimed=0)]


def test_serve_runs_no_pass_once_stopped(runtime: bootstrap.Runtime, clock: SettableClock) -> None:
    _create_transfer(runtime)
    clock.advance_to(DUE_AT + timedelta(seconds=1))
    stop = threading.Event()
    stop.set()
    cycles: list[runner.Cycle] = []

    runner.serve(runtime, NO_SLEEP, stop=stop, on_cycle=cycles.append)

    assert cycles == []
    assert [row.status for row in _operation_rows(runtime)] == ["pending"]


def test_serve_keeps_passing_while_idle_until_stopped(runtime: bootstrap.Runtime) -> None:
    stop = threading.Event()
    cycles: list[runner.Cycle] = []

    def on_cycle(cycle: runner.Cycle) -> None:
        cycles.append(cycle)
        if len(cycles) == 3:
            stop.set()

    runner.serve(runtime, NO_SLEEP, stop=stop, on_cycle=on_cycle)

    assert cycles == [runner.Cycle(claimed=0)] * 3


def test_serve_logs_a_failed_pass_and_carries_on(
    runtime: bootstrap.Runtime, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    _create_transfer(runtime)
    clock.advance_to(DUE_AT + timedelta(seconds=1))
    gateway = RaisingOnceGateway(_ledger(runtime), clock)
    flaky = dataclasses.replace(runtime, gateway=gateway)
    stop = threading.Event()
    cycles: list[runner.Cycle] = []

    def on_cycle(cycle: runner.Cycle) -> None:
        cycles.append(cycle)
        if cycle.recorded or len(cycles) >= 5:
            stop.set()

    with caplog.at_level(logging.ERROR, logger="scheduler.runner"):
        runner.serve(
            flaky, dataclasses.replace(NO_SLEEP, lease=LEASE), stop=stop, on_cycle=on_cycle
        )

    [failure] = [record for record in caplog.records if record.name == "scheduler.runner"]
    assert failure.getMessage() == "dispatch pass failed (1 in a row); next attempt in 0.0 s"
    assert failure.exc_info is not None
    assert isinstance(failure.exc_info[1], ConnectionError)
    # The failed pass reported nothing; the next one claimed the operation again once
    # its lease had expired, and paid it, once.
    assert gateway.calls == 2
    assert cycles == [
        runner.Cycle(claimed=1, recorded={OperationStatus.SUCCEEDED: 1}, sealed=3),
    ]
    assert [(row.status, row.attempts) for row in _operation_rows(runtime)] == [("succeeded", 2)]
    assert _ledger(runtime).balance("GB-DEBIT-1") == Money.of("2900.00", "GBP")


def test_a_failed_pass_leaves_the_operation_leased_for_the_lease(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    _create_transfer(runtime)
    claimed_at = DUE_AT + timedelta(seconds=1)
    clock.advance_to(claimed_at)
    flaky = dataclasses.replace(runtime, gateway=RaisingOnceGateway(_ledger(runtime), clock))

    with pytest.raises(ConnectionError):
        runner.run_cycle(flaky, runner.LoopSettings(lease=timedelta(minutes=5)))

    [row] = _operation_rows(runtime)
    assert (row.status, row.attempts) == ("claimed", 1)
    assert row.lease_expires_at == claimed_at + timedelta(minutes=5)


def test_a_quiet_pass_purges_expired_idempotent_responses_and_keeps_live_ones(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    response = StoredResponse(request_hash="h", status_code=201, body="{}")
    with runtime.unit_of_work() as uow:
        for key, lifetime in (("expired", timedelta(hours=1)), ("live", timedelta(days=2))):
            uow.idempotency.save("alice", key, response, at=CREATED_AT, until=CREATED_AT + lifetime)
        uow.commit()
    clock.advance_to(CREATED_AT + timedelta(days=1))

    cycle = runner.run_cycle(runtime, NO_SLEEP, seal=False)

    assert cycle.purged == 1
    with runtime.engine.connect() as connection:
        keys = connection.execute(sa.select(tables.api_idempotency.c.idempotency_key)).scalars()
        assert list(keys) == ["live"]


@pytest.mark.parametrize(("took", "warned"), [(timedelta(seconds=31), True), (timedelta(0), False)])
def test_a_batch_that_takes_over_half_its_lease_is_warned_of(
    runtime: bootstrap.Runtime,
    clock: SettableClock,
    caplog: pytest.LogCaptureFixture,
    took: timedelta,
    warned: bool,
) -> None:
    _create_transfer(runtime)
    clock.advance_to(DUE_AT)
    slow = dataclasses.replace(runtime, gateway=SlowGateway(_ledger(runtime), clock, took))

    with caplog.at_level(logging.WARNING, logger="scheduler.runner"):
        runner.run_cycle(slow, runner.LoopSettings(lease=LEASE))

    warnings = [r.getMessage() for r in caplog.records if r.name == "scheduler.runner"]
    assert bool(warnings) is warned
    if warned:
        assert "took 31.0 s of its 60 s lease" in warnings[0]


def test_serve_sizes_its_claims_so_a_slow_gateway_never_outlasts_the_lease(
    runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    # 50 ms a transfer on a 10 s lease: one batch of all 120 would take 6 s, past half
    # the lease, and another worker could claim its tail again.
    for _ in range(120):
        _create_transfer(runtime, amount="10.00")
    clock.advance_to(DUE_AT)
    slow = dataclasses.replace(
        runtime, gateway=SlowGateway(_ledger(runtime), clock, timedelta(milliseconds=50))
    )
    loop = dataclasses.replace(NO_SLEEP, lease=timedelta(seconds=10), batch_size=500)
    cycles: list[runner.Cycle] = []

    runner.serve(slow, loop, stop=threading.Event(), on_cycle=cycles.append, until_idle=True)

    assert [cycle.claimed for cycle in cycles if cycle.claimed] == [50, 70]
    assert max(cycle.executed_in for cycle in cycles) == timedelta(seconds=3.5)
    assert {row.status for row in _operation_rows(runtime)} == {"succeeded"}
    assert _ledger(runtime).balance("GB-DEBIT-1") == Money.of("1800.00", "GBP")
