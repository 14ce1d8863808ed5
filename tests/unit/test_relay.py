"""The outbox relay of `tsched serve`: it publishes what the dispatcher's transactions
left in the outbox, marks what the bus acknowledged, keeps the rest for the next round,
rides through a store that fails, and runs on a thread of its own, so a bus that does
not answer never holds up a payment. tests/integration/test_serve_kafka_outage.py stops
a real broker under `tsched serve`."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler import bootstrap, relay, runner
from scheduler.adapters.sql import migrate
from scheduler.backoff import Backoff
from scheduler.config import Settings
from scheduler.domain.events import EventType, StoredEvent
from scheduler.domain.money import Money
from scheduler.domain.operation import OperationStatus
from scheduler.service.publish_outbox import PublishResult
from tests.support import schedules, store_faults
from tests.support.clock import SettableClock
from tests.support.publishers import RecordingPublisher

CREATED_AT = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
#: Monday 15 February 2027, 10:00 in London (GMT), when the transfers are due.
DUE_AT = datetime(2027, 2, 15, 10, 0, tzinfo=UTC)
SERVER_DOWN = 53
QUICK = relay.RelaySettings(idle_sleep=0.0, backoff=Backoff(first=0.0, last=0.0))


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    """A runtime on a migrated SQLite file where one GBP transfer due at DUE_AT was
    executed: its schedule's created, succeeded and completed events wait in the outbox."""
    clock = SettableClock(CREATED_AT)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    runtime = bootstrap.build(settings, clock=clock, worker="worker-1")
    migrate.upgrade(runtime.engine)
    assert runtime.ledger is not None
    runtime.ledger.open_account(
        "GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("3000.00", "GBP")
    )
    runtime.ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    schedules.create(runtime.engine, clock, schedules.one_time_transfer("2027-02-15", "100.00"))
    clock.advance_to(DUE_AT + timedelta(seconds=1))
    runner.run_cycle(runtime, runner.LoopSettings())
    yield runtime
    runtime.close()


class SilentBus:
    """An `EventPublisher` whose bus does not answer: `publish` blocks until released,
    as a Kafka producer blocks for its delivery timeout while the broker is down."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.release = threading.Event()

    def publish(self, events: Sequence[StoredEvent]) -> list[int]:
        self.waiting.set()
        self.release.wait(timeout=30)
        return []


def _unpublished(runtime: bootstrap.Runtime) -> list[StoredEvent]:
    with runtime.unit_of_work() as uow:
        return uow.outbox.unpublished(100)


def _relay_rounds(
    runtime: bootstrap.Runtime, publisher: RecordingPublisher, rounds: int
) -> list[PublishResult]:
    stop = threading.Event()
    results: list[PublishResult] = []

    def on_round(result: PublishResult) -> None:
        results.append(result)
        if len(results) >= rounds:
            stop.set()

    relay.relay(runtime, publisher, QUICK, stop=stop, on_round=on_round)
    return results


def test_draining_publishes_the_outbox_and_marks_what_the_bus_acknowledged(
    runtime: bootstrap.Runtime,
) -> None:
    publisher = RecordingPublisher()

    assert relay.drain(runtime, publisher) == relay.Drained(published=3, more=False)

    [batch] = publisher.batches
    assert [stored.event.type for stored in batch] == [
        EventType.SCHEDULE_CREATED,
        EventType.EXECUTION_SUCCEEDED,
        EventType.SCHEDULE_COMPLETED,
    ]
    assert _unpublished(runtime) == []


def test_events_the_bus_does_not_acknowledge_stay_for_the_next_round(
    runtime: bootstrap.Runtime,
) -> None:
    publisher = RecordingPublisher()
    publisher.unconfirmed = {2, 3}

    first = _relay_rounds(runtime, publisher, 1)
    assert first == [PublishResult(read=3, published=1, batch_full=False)]
    assert [stored.outbox_id for stored in _unpublished(runtime)] == [2, 3]

    publisher.unconfirmed.clear()
    assert _relay_rounds(runtime, publisher, 1)[0].published == 2
    assert _unpublished(runtime) == []
    assert [[s.outbox_id for s in batch] for batch in publisher.batches] == [[1, 2, 3], [2, 3]]


def test_the_relay_rides_through_a_store_that_fails(
    runtime: bootstrap.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    faults = store_faults.StatementFaults(
        runtime.engine, lambda sql: "FROM outbox" in sql, number=SERVER_DOWN, times=2
    )
    publisher = RecordingPublisher()

    with caplog.at_level(logging.WARNING, logger="scheduler.relay"):
        results = _relay_rounds(runtime, publisher, 1)

    assert faults.failed == 2
    assert results[0].published == 3
    assert [record.getMessage() for record in caplog.records] == [
        f"relay: the store is unavailable (OperationalError {SERVER_DOWN}); next round in 0.0 s"
    ] * 2


def test_a_silent_bus_holds_up_the_relay_and_never_a_payment(
    runtime: bootstrap.Runtime,
) -> None:
    bus = SilentBus()
    thread = relay.RelayThread(runtime, bus, QUICK)
    thread.start()
    try:
        assert bus.waiting.wait(timeout=10), "the relay never reached the bus"
        schedules.create(
            runtime.engine,
            runtime.clock,
            schedules.one_time_transfer("2027-02-15", "50.00") | {"time_of_day": "10:30"},
        )
        clock = runtime.clock
        assert isinstance(clock, SettableClock)
        clock.advance_to(DUE_AT + timedelta(minutes=30, seconds=1))

        # The relay waits on the bus; the dispatcher, on this thread, pays regardless.
        cycle = runner.run_cycle(dataclasses.replace(runtime, publisher=bus), runner.LoopSettings())
    finally:
        bus.release.set()
        thread.stop(timeout=10)

    assert cycle.recorded == {OperationStatus.SUCCEEDED: 1}
    assert len(_unpublished(runtime)) == 6
