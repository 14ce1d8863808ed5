"""A schedule's life on the embedded SQLite store: pause, resume, cancel, and completion
once its last execution has a final outcome, with the records each change must leave.

Times: the clock starts on Fri 1 January 2027, 12:00 UTC. The schedules run at 09:00
Europe/London (UTC in winter) from Tue 5 January; a "P1D" reminder is due the day before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import tables
from scheduler.adapters.sql.outbox import SqlOutboxRepository
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import errors
from scheduler.domain.money import Money
from scheduler.domain.operation import OperationKind, OperationStatus
from scheduler.ports import TransferOutcome, TransferRequest, TransferResult
from scheduler.service.change_schedule_status import (
    ChangeScheduleStatus,
    ScheduleAction,
    StatusChanged,
    change_schedule_status,
)
from scheduler.service.execute_claimed import (
    TransactionMode,
)
from tests.support import schedules
from tests.support.clock import SettableClock, january
from tests.support.engine_steps import (
    WORKER,
    claim,
    execute,
    operation_ids,
    operation_rows,
    outbox_event_types,
    outbox_events,
    run_due,
    schedule_audit,
    schedule_row,
    snapshot,
)
from tests.unit.service.conftest import CREDIT, DEBIT, OPENING

EXECUTION = OperationKind.EXECUTION.value
REMINDER = OperationKind.REMINDER.value


# --------------------------------------------------------------------------- helpers


def _one_time(amount: str = "100.00", reminders: Sequence[str] = ("P1D",)) -> dict[str, Any]:
    return {
        "kind": "one_time_transfer",
        "debit_account": DEBIT,
        "credit_account": CREDIT,
        "amount": {"value": amount, "currency": "GBP"},
        "start_date": "2027-01-05",
        "time_of_day": "09:00",
        "time_zone": "Europe/London",
        "reminders": list(reminders),
    }


def _weekly(
    count: int, amount: str = "100.00", reminders: Sequence[str] = ("P1D",)
) -> dict[str, Any]:
    """Every Tuesday from 5 January 2027, `count` times."""
    return _one_time(amount, reminders) | {
        "kind": "recurring_payment",
        "recurrence": {"frequency": "weekly", "count": count},
    }


def _change(
    engine: sa.Engine,
    clock: SettableClock,
    schedule_id: uuid.UUID,
    action: ScheduleAction,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
) -> StatusChanged:
    return change_schedule_status(
        ChangeScheduleStatus(
            schedule_id=schedule_id,
            customer_id="alice",
            action=action,
            actor="customer:alice",
            expected_version=expected_version,
            reason=reason,
            correlation_id="corr-1",
        ),
        uow=SqlUnitOfWork(engine),
        clock=clock,
    )


class _GatewayWithHook:
    """The ledger, calling `before` first: lets a test act while a worker is between
    reading the schedule and recording the outcome, i.e. while the transfer is in flight."""

    def __init__(self, ledger: Ledger, before: Callable[[], None]) -> None:
        self._ledger = ledger
        self._before = before

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        self._before()
        return self._ledger.transfer_many(requests)


class _UnavailableFor:
    """The ledger, except that it does not answer for the idempotency keys in `down`."""

    def __init__(self, ledger: Ledger, down: set[str]) -> None:
        self._ledger = ledger
        self.down = down

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        results: list[TransferResult] = []
        for request in requests:
            if request.idempotency_key in self.down:
                results.append(
                    TransferResult(outcome=TransferOutcome.UNAVAILABLE, code="test_down")
                )
            else:
                results.extend(self._ledger.transfer_many([request]))
        return results


# --------------------------------------------------------------------------- pause


def test_pausing_makes_the_schedule_paused_one_version_later_with_an_audit_record_and_event(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    clock.advance_to(datetime(2027, 1, 2, 10, 0, tzinfo=UTC))

    result = _change(engine, clock, schedule_id, ScheduleAction.PAUSE, reason="on holiday")

    assert result.changed is True
    assert result.stored.schedule.status.value == "paused"
    assert result.stored.schedule.version == 2
    assert result.cancelled == []
    assert result.in_flight == []
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version) == ("paused", 2)

    audit = schedule_audit(engine, schedule_id)
    assert [record.action for record in audit] == ["schedule.created", "schedule.paused"]
    paused = audit[-1]
    assert paused.actor == "customer:alice"
    assert paused.correlation_id == "corr-1"
    assert paused.occurred_at == clock.now()
    assert paused.details["from"] == "active"
    assert paused.details["version"] == 2
    assert paused.details["reason"] == "on holiday"
    assert paused.details["cancelled_operations"] == []

    events = outbox_events(engine, schedule_id)
    assert [event.event_type for event in events] == [
        "com.tsched.schedule.created.v1",
        "com.tsched.schedule.paused.v1",
    ]
    data = events[-1].payload["data"]
    assert (data["status"], data["version"], data["reason"]) == ("paused", 2, "on holiday")
    assert events[-1].occurred_at == clock.now()


def test_a_pause_whose_event_cannot_be_written_leaves_no_trace(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status, audit record and event are one commit: if the last fails, none is kept."""
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    before = snapshot(engine)

    def refuse(self: SqlOutboxRepository, events: object) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(SqlOutboxRepository, "add", refuse)
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        _change(engine, clock, schedule_id, ScheduleAction.PAUSE)

    assert snapshot(engine) == before


def test_pausing_leaves_pending_operations_untouched(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    before = snapshot(engine)["operation"]

    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)

    assert snapshot(engine)["operation"] == before
    assert operation_rows(engine, schedule_id) == [
        (0, EXECUTION, "pending"),
        (0, REMINDER, "pending"),
    ]


def test_operations_falling_due_while_paused_are_skipped_without_moving_money(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)

    claimed, report = run_due(engine, clock, ledger, january(4))
    assert [op.kind for op in claimed] == [OperationKind.REMINDER]
    assert report.recorded == {OperationStatus.SKIPPED: 1}

    claimed, report = run_due(engine, clock, ledger, january(5))
    assert [op.kind for op in claimed] == [OperationKind.EXECUTION]
    assert report.recorded == {OperationStatus.SKIPPED: 1}

    assert ledger.balance(DEBIT) == OPENING
    assert ledger.balance(CREDIT) == Money.of("0.00", "GBP")
    with engine.connect() as connection:
        codes = (
            connection.execute(
                sa.select(tables.execution_attempt.c.error_code).where(
                    tables.execution_attempt.c.schedule_id == schedule_id
                )
            )
            .scalars()
            .all()
        )
    assert codes == ["schedule_paused", "schedule_paused"]
    assert outbox_event_types(engine, schedule_id)[-2:] == [
        "com.tsched.operation.skipped.v1",
        "com.tsched.operation.skipped.v1",
    ]


def test_an_execution_skipped_while_paused_still_materialises_the_next_occurrence(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)
    run_due(engine, clock, ledger, january(4))
    run_due(engine, clock, ledger, january(5))

    assert operation_rows(engine, schedule_id) == [
        (0, EXECUTION, "skipped"),
        (0, REMINDER, "skipped"),
        (1, EXECUTION, "pending"),
        (1, REMINDER, "pending"),
    ]
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.next_index) == ("paused", 2)


def test_resuming_before_the_due_time_lets_the_operation_execute_normally(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)
    clock.advance_to(datetime(2027, 1, 3, 18, 0, tzinfo=UTC))

    resumed = _change(engine, clock, schedule_id, ScheduleAction.RESUME)

    assert resumed.changed is True
    assert (resumed.stored.schedule.status.value, resumed.stored.schedule.version) == (
        "active",
        3,
    )
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version) == ("active", 3)
    audit = schedule_audit(engine, schedule_id)
    assert len(audit) == 3
    assert audit[-1].details["from"] == "paused"
    assert audit[-1].details["version"] == 3
    assert outbox_event_types(engine, schedule_id)[-1] == "com.tsched.schedule.resumed.v1"

    _, report = run_due(engine, clock, ledger, january(4))
    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    _, report = run_due(engine, clock, ledger, january(5))
    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    assert ledger.balance(DEBIT) == Money.of("2900.00", "GBP")
    assert ledger.balance(CREDIT) == Money.of("100.00", "GBP")


def test_an_occurrence_skipped_while_paused_is_not_caught_up_after_resuming(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)
    run_due(engine, clock, ledger, january(4))
    run_due(engine, clock, ledger, january(5))
    clock.advance_to(january(6))
    _change(engine, clock, schedule_id, ScheduleAction.RESUME)

    claimed, _ = run_due(engine, clock, ledger, january(6, second=2))
    assert claimed == []
    run_due(engine, clock, ledger, january(11))
    _, report = run_due(engine, clock, ledger, january(12))

    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    assert ledger.balance(DEBIT) == Money.of("2900.00", "GBP")  # one payment, not two


def test_pausing_a_paused_schedule_changes_nothing_and_records_nothing(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)
    before = snapshot(engine)

    again = _change(engine, clock, schedule_id, ScheduleAction.PAUSE)

    assert again.changed is False
    assert (again.stored.schedule.status.value, again.stored.schedule.version) == ("paused", 2)
    assert again.cancelled == []
    assert snapshot(engine) == before
    assert [record.action for record in schedule_audit(engine, schedule_id)].count(
        "schedule.paused"
    ) == 1


def test_resuming_an_active_schedule_changes_nothing_and_records_nothing(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    before = snapshot(engine)

    result = _change(engine, clock, schedule_id, ScheduleAction.RESUME)

    assert result.changed is False
    assert result.stored.schedule.version == 1
    assert snapshot(engine) == before


# --------------------------------------------------------------------------- cancel


def _schedule_with_retry_wait_and_pending(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> uuid.UUID:
    """A weekly payment of 5000.00 from 3000.00: occurrence 0 waits for a retry
    (insufficient funds, retried Wed 6 Jan 08:00), occurrence 1 is pending."""
    schedule_id = schedules.create(engine, clock, _weekly(count=3, amount="5000.00"))
    run_due(engine, clock, ledger, january(4))
    _, report = run_due(engine, clock, ledger, january(5))
    assert report.recorded == {OperationStatus.RETRY_WAIT: 1}
    assert operation_rows(engine, schedule_id) == [
        (0, EXECUTION, "retry_wait"),
        (0, REMINDER, "succeeded"),
        (1, EXECUTION, "pending"),
        (1, REMINDER, "pending"),
    ]
    return schedule_id


def test_cancelling_cancels_pending_and_retry_wait_operations_in_the_same_transaction(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = _schedule_with_retry_wait_and_pending(engine, clock, ledger)
    ids = operation_ids(engine, schedule_id)
    clock.advance_to(january(5, 15))

    result = _change(engine, clock, schedule_id, ScheduleAction.CANCEL, reason="moved bank")

    expected = {ids[(0, EXECUTION)], ids[(1, EXECUTION)], ids[(1, REMINDER)]}
    assert result.changed is True
    assert {op.id for op in result.cancelled} == expected
    assert len(result.cancelled) == 3
    assert result.in_flight == []
    assert (result.stored.schedule.status.value, result.stored.schedule.version) == (
        "cancelled",
        2,
    )
    assert operation_rows(engine, schedule_id) == [
        (0, EXECUTION, "cancelled"),
        (0, REMINDER, "succeeded"),
        (1, EXECUTION, "cancelled"),
        (1, REMINDER, "cancelled"),
    ]
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version) == ("cancelled", 2)
    cancelled = schedule_audit(engine, schedule_id)[-1]
    assert cancelled.action == "schedule.cancelled"
    assert cancelled.details["from"] == "active"
    assert cancelled.details["reason"] == "moved bank"
    assert set(cancelled.details["cancelled_operations"]) == {str(i) for i in expected}
    events = outbox_events(engine, schedule_id)
    assert events[-1].event_type == "com.tsched.schedule.cancelled.v1"
    assert events[-1].payload["data"]["status"] == "cancelled"


def test_a_cancel_whose_event_cannot_be_written_cancels_no_operation(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule_id = _schedule_with_retry_wait_and_pending(engine, clock, ledger)
    before = snapshot(engine)

    def refuse(self: SqlOutboxRepository, events: object) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(SqlOutboxRepository, "add", refuse)
    with pytest.raises(RuntimeError):
        _change(engine, clock, schedule_id, ScheduleAction.CANCEL)

    assert snapshot(engine) == before


def test_nothing_runs_after_a_cancel_and_no_next_occurrence_is_materialised(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = _schedule_with_retry_wait_and_pending(engine, clock, ledger)
    _change(engine, clock, schedule_id, ScheduleAction.CANCEL)
    ledger.deposit(DEBIT, Money.of("20000.00", "GBP"))
    before = snapshot(engine)

    # The retry time, the next reminder and execution, and well past the last occurrence.
    for at in (january(6, 8), january(11), january(12), january(18), january(19), january(30)):
        claimed, _ = run_due(engine, clock, ledger, at)
        assert claimed == [], at

    assert snapshot(engine) == before
    assert ledger.balance(DEBIT) == Money.of("23000.00", "GBP")
    assert schedule_row(engine, schedule_id).next_index == 2


def test_a_paused_schedule_can_be_cancelled_and_its_operations_are_cancelled(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)

    result = _change(engine, clock, schedule_id, ScheduleAction.CANCEL)

    assert result.changed is True
    assert len(result.cancelled) == 2
    assert schedule_audit(engine, schedule_id)[-1].details["from"] == "paused"
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version) == ("cancelled", 3)
    assert {status for _, _, status in operation_rows(engine, schedule_id)} == {"cancelled"}


def test_a_claimed_operation_is_reported_in_flight_and_not_cancelled(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3, reminders=()))
    clock.advance_to(january(5))
    claimed = claim(engine, clock)
    assert [op.occurrence_index for op in claimed] == [0]

    result = _change(engine, clock, schedule_id, ScheduleAction.CANCEL)

    assert result.cancelled == []
    assert [op.id for op in result.in_flight] == [claimed[0].id]
    assert result.in_flight[0].status is OperationStatus.CLAIMED
    assert operation_rows(engine, schedule_id) == [(0, EXECUTION, "claimed")]


def test_an_in_flight_execution_recorded_after_the_cancel_materialises_no_next_occurrence(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3, reminders=()))
    clock.advance_to(january(5))
    claimed = claim(engine, clock)
    _change(engine, clock, schedule_id, ScheduleAction.CANCEL)

    report = execute(engine, clock, ledger, claimed)

    assert sum(report.recorded.values()) == 1
    assert [index for index, _, _ in operation_rows(engine, schedule_id)] == [0]
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.next_index) == ("cancelled", 1)
    for at in (january(11), january(12), january(19)):
        assert run_due(engine, clock, ledger, at)[0] == []


def test_an_execution_in_flight_at_the_gateway_during_the_cancel_materialises_no_next_occurrence(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    """The worker read the schedule (active) before the customer cancelled it, and
    records the outcome after: the cancelled schedule must still get no new occurrence."""
    schedule_id = schedules.create(engine, clock, _weekly(count=3, reminders=()))
    clock.advance_to(january(5))
    claimed = claim(engine, clock)
    results: list[StatusChanged] = []

    def cancel() -> None:
        results.append(_change(engine, clock, schedule_id, ScheduleAction.CANCEL))

    execute(engine, clock, _GatewayWithHook(ledger, cancel), claimed)

    assert [op.id for op in results[0].in_flight] == [claimed[0].id]
    assert schedule_row(engine, schedule_id).status == "cancelled"
    assert [index for index, _, _ in operation_rows(engine, schedule_id)] == [0]


def test_a_schedule_cancelled_while_its_execution_was_in_flight_never_pays_again(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3, reminders=()))
    clock.advance_to(january(5))
    claimed = claim(engine, clock)

    def cancel() -> None:
        _change(engine, clock, schedule_id, ScheduleAction.CANCEL)

    execute(engine, clock, _GatewayWithHook(ledger, cancel), claimed)
    assert ledger.balance(DEBIT) == Money.of("2900.00", "GBP")  # the in-flight one

    for at in (january(12), january(19), january(26)):
        run_due(engine, clock, ledger, at)

    assert ledger.balance(DEBIT) == Money.of("2900.00", "GBP")


def test_an_in_flight_last_execution_does_not_complete_a_cancelled_schedule(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _one_time(reminders=()))
    clock.advance_to(january(5))
    claimed = claim(engine, clock)

    def cancel() -> None:
        _change(engine, clock, schedule_id, ScheduleAction.CANCEL)

    execute(engine, clock, _GatewayWithHook(ledger, cancel), claimed)

    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version) == ("cancelled", 2)
    assert "schedule.completed" not in [r.action for r in schedule_audit(engine, schedule_id)]
    assert "com.tsched.schedule.completed.v1" not in outbox_event_types(engine, schedule_id)


def test_cancelling_a_cancelled_schedule_changes_nothing_and_records_nothing(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.CANCEL)
    before = snapshot(engine)

    again = _change(engine, clock, schedule_id, ScheduleAction.CANCEL)

    assert again.changed is False
    assert again.cancelled == []
    assert (again.stored.schedule.status.value, again.stored.schedule.version) == (
        "cancelled",
        2,
    )
    assert snapshot(engine) == before


def _cancelled(engine: sa.Engine, clock: SettableClock, ledger: Ledger) -> uuid.UUID:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.CANCEL)
    return schedule_id


def _completed(engine: sa.Engine, clock: SettableClock, ledger: Ledger) -> uuid.UUID:
    schedule_id = schedules.create(engine, clock, _one_time(reminders=()))
    run_due(engine, clock, ledger, january(5))
    assert schedule_row(engine, schedule_id).status == "completed"
    return schedule_id


_ENDED = {"cancelled": _cancelled, "completed": _completed}
_REQUESTED = {
    ScheduleAction.PAUSE: "paused",
    ScheduleAction.RESUME: "active",
    ScheduleAction.CANCEL: "cancelled",
}


@pytest.mark.parametrize(
    ("ended", "action"),
    [
        ("cancelled", ScheduleAction.PAUSE),
        ("cancelled", ScheduleAction.RESUME),
        ("completed", ScheduleAction.PAUSE),
        ("completed", ScheduleAction.RESUME),
        ("completed", ScheduleAction.CANCEL),
    ],
    ids=str,
)
def test_an_ended_schedule_cannot_change_status_and_nothing_is_written(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, ended: str, action: ScheduleAction
) -> None:
    schedule_id = _ENDED[ended](engine, clock, ledger)
    before = snapshot(engine)
    row = schedule_row(engine, schedule_id)

    with pytest.raises(errors.ScheduleNotChangeable) as raised:
        _change(engine, clock, schedule_id, action)

    assert raised.value.code == "schedule_not_changeable"
    assert (raised.value.current, raised.value.requested) == (ended, _REQUESTED[action])
    assert raised.value.schedule_id == str(schedule_id)
    assert schedule_row(engine, schedule_id) == row
    assert snapshot(engine) == before


# --------------------------------------------------------------------------- versions, ids


@pytest.mark.parametrize("action", list(ScheduleAction), ids=str)
def test_a_stale_expected_version_is_refused_and_changes_nothing(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, action: ScheduleAction
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE, expected_version=1)  # now v2
    before = snapshot(engine)

    with pytest.raises(errors.StaleVersion) as raised:
        _change(engine, clock, schedule_id, action, expected_version=1)

    assert raised.value.code == "stale_version"
    assert (raised.value.expected, raised.value.current) == (1, 2)
    assert raised.value.schedule_id == str(schedule_id)
    assert snapshot(engine) == before


def test_the_current_expected_version_is_accepted(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=3))
    paused = _change(engine, clock, schedule_id, ScheduleAction.PAUSE, expected_version=1)

    resumed = _change(
        engine,
        clock,
        schedule_id,
        ScheduleAction.RESUME,
        expected_version=paused.stored.schedule.version,
    )

    assert resumed.changed is True
    assert schedule_row(engine, schedule_id).version == 3


@pytest.mark.parametrize("action", list(ScheduleAction), ids=str)
def test_an_unknown_schedule_is_reported_and_nothing_is_written(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, action: ScheduleAction
) -> None:
    schedules.create(engine, clock, _weekly(count=3))
    before = snapshot(engine)
    unknown = uuid.uuid4()

    with pytest.raises(errors.UnknownSchedule) as raised:
        _change(engine, clock, unknown, action)

    assert raised.value.code == "unknown_schedule"
    assert raised.value.schedule_id == str(unknown)
    assert snapshot(engine) == before


# --------------------------------------------------------------------------- completion


def _completions(engine: sa.Engine, schedule_id: uuid.UUID) -> tuple[int, int]:
    """How many "schedule.completed" audit records and SCHEDULE_COMPLETED events exist."""
    audit = [r.action for r in schedule_audit(engine, schedule_id)].count("schedule.completed")
    events = outbox_event_types(engine, schedule_id).count("com.tsched.schedule.completed.v1")
    return audit, events


@pytest.mark.parametrize("mode", list(TransactionMode), ids=str)
def test_a_one_time_transfer_that_succeeds_completes_its_schedule(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, mode: TransactionMode
) -> None:
    schedule_id = schedules.create(engine, clock, _one_time())
    run_due(engine, clock, ledger, january(4), mode)
    assert schedule_row(engine, schedule_id).status == "active"  # a reminder ends nothing

    claimed, report = run_due(engine, clock, ledger, january(5), mode)

    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version, row.next_index) == ("completed", 2, None)
    audit = schedule_audit(engine, schedule_id)
    assert [record.action for record in audit] == ["schedule.created", "schedule.completed"]
    assert audit[-1].details == {"last_operation_id": str(claimed[0].id)}
    assert audit[-1].actor == f"worker:{WORKER}"
    events = outbox_events(engine, schedule_id)
    assert [event.event_type for event in events] == [
        "com.tsched.schedule.created.v1",
        "com.tsched.reminder.due.v1",
        "com.tsched.execution.succeeded.v1",
        "com.tsched.schedule.completed.v1",
    ]
    data = events[-1].payload["data"]
    assert (data["status"], data["version"]) == ("completed", 2)
    assert ledger.balance(DEBIT) == Money.of("2900.00", "GBP")

    assert run_due(engine, clock, ledger, january(30), mode)[0] == []
    assert _completions(engine, schedule_id) == (1, 1)


@pytest.mark.parametrize("mode", list(TransactionMode), ids=str)
def test_a_recurring_schedule_of_two_completes_only_after_its_second_execution(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, mode: TransactionMode
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=2))
    run_due(engine, clock, ledger, january(4), mode)
    run_due(engine, clock, ledger, january(5), mode)

    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version, row.next_index) == ("active", 1, None)
    assert _completions(engine, schedule_id) == (0, 0)

    run_due(engine, clock, ledger, january(11), mode)
    assert schedule_row(engine, schedule_id).status == "active"
    _, report = run_due(engine, clock, ledger, january(12), mode)

    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version) == ("completed", 2)
    assert _completions(engine, schedule_id) == (1, 1)
    assert ledger.balance(DEBIT) == Money.of("2800.00", "GBP")
    assert [index for index, _, _ in operation_rows(engine, schedule_id)] == [0, 0, 1, 1]


def test_a_last_execution_waiting_for_a_retry_completes_the_schedule_only_when_it_succeeds(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _one_time(amount="5000.00", reminders=()))
    _, report = run_due(engine, clock, ledger, january(5))
    assert report.recorded == {OperationStatus.RETRY_WAIT: 1}
    assert schedule_row(engine, schedule_id).status == "active"
    assert _completions(engine, schedule_id) == (0, 0)

    ledger.deposit(DEBIT, Money.of("2000.00", "GBP"))
    _, report = run_due(engine, clock, ledger, january(6, 8, 0, 0))  # next business morning

    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    assert schedule_row(engine, schedule_id).status == "completed"
    assert _completions(engine, schedule_id) == (1, 1)


def test_a_last_execution_that_finally_fails_completes_the_schedule(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _one_time(amount="5000.00", reminders=()))
    run_due(engine, clock, ledger, january(5))
    _, report = run_due(engine, clock, ledger, january(6, 8, 0, 0))
    assert report.recorded == {OperationStatus.RETRY_WAIT: 1}
    assert schedule_row(engine, schedule_id).status == "active"

    _, report = run_due(engine, clock, ledger, january(7, 8, 0, 0))

    assert report.recorded == {OperationStatus.FAILED: 1}
    assert schedule_row(engine, schedule_id).status == "completed"
    assert _completions(engine, schedule_id) == (1, 1)
    assert ledger.balance(DEBIT) == OPENING


def test_a_schedule_completes_only_when_every_execution_is_final_in_whatever_order(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    """Occurrence 0 still waits for a retry when occurrence 1, the last, succeeds."""
    schedule_id = schedules.create(engine, clock, _weekly(count=2, reminders=()))
    first = operation_ids(engine, schedule_id)[(0, EXECUTION)]
    gateway = _UnavailableFor(ledger, {str(first)})
    _, report = run_due(engine, clock, gateway, january(5))
    assert report.recorded == {OperationStatus.RETRY_WAIT: 1}

    _, report = run_due(engine, clock, gateway, january(12))  # claims both
    assert report.recorded == {OperationStatus.RETRY_WAIT: 1, OperationStatus.SUCCEEDED: 1}
    assert schedule_row(engine, schedule_id).status == "active"
    assert _completions(engine, schedule_id) == (0, 0)

    gateway.down.clear()
    _, report = run_due(engine, clock, gateway, january(12, 9, 30))

    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    assert schedule_row(engine, schedule_id).status == "completed"
    assert _completions(engine, schedule_id) == (1, 1)
    assert ledger.balance(DEBIT) == Money.of("2800.00", "GBP")


def test_a_paused_schedule_whose_last_operation_is_skipped_completes(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _one_time())
    _change(engine, clock, schedule_id, ScheduleAction.PAUSE)
    run_due(engine, clock, ledger, january(4))
    assert schedule_row(engine, schedule_id).status == "paused"

    _, report = run_due(engine, clock, ledger, january(5))

    assert report.recorded == {OperationStatus.SKIPPED: 1}
    row = schedule_row(engine, schedule_id)
    assert (row.status, row.version) == ("completed", 3)
    assert [r.action for r in schedule_audit(engine, schedule_id)] == [
        "schedule.created",
        "schedule.paused",
        "schedule.completed",
    ]
    assert _completions(engine, schedule_id) == (1, 1)
    assert ledger.balance(DEBIT) == OPENING
