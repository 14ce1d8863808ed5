"""The engine end to end on the embedded SQLite store: create a schedule, claim what is
due, execute it through the embedded ledger, and check every record it leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.money import Money
from scheduler.domain.operation import OperationStatus
from scheduler.service.claim_due import claim_due
from scheduler.service.execute_claimed import Dispatch, TransactionMode, execute_claimed
from tests.support import schedules
from tests.support.clock import SettableClock


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime(2027, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(engine: sa.Engine, clock: SettableClock) -> Ledger:
    ledger = Ledger(engine, clock)
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("3000.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    return ledger


def _monthly_mortgage(count: int = 3) -> dict[str, object]:
    return {
        "kind": "recurring_payment",
        "debit_account": "GB-DEBIT-1",
        "credit_account": "GB-CREDIT-1",
        "amount": {"value": "1250.00", "currency": "GBP"},
        "start_date": "2027-01-31",
        "time_of_day": "09:00",
        "time_zone": "Europe/London",
        "recurrence": {"frequency": "monthly", "day_of_month": 31, "count": count},
        "business_days": {"calendar": "GB-ENG", "convention": "modified_following"},
        "reminders": ["P1D"],
    }


def _run_due(engine: sa.Engine, clock: SettableClock, ledger: Ledger, mode: TransactionMode):
    dispatch = Dispatch(
        uow_factory=lambda: SqlUnitOfWork(engine),
        gateway=ledger,
        clock=clock,
        worker="worker-1",
        mode=mode,
    )
    claimed = claim_due(
        uow=SqlUnitOfWork(engine),
        clock=clock,
        worker="worker-1",
        limit=100,
        lease=timedelta(seconds=60),
    )
    return claimed, execute_claimed(claimed, dispatch)


@pytest.mark.parametrize("mode", list(TransactionMode))
def test_monthly_payment_runs_once_per_occurrence_and_leaves_a_full_record(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger, mode: TransactionMode
) -> None:
    schedule_id = schedules.create(engine, clock, _monthly_mortgage(count=3))

    # The reminder one day before the first execution (Fri 29 Jan 2027, 09:00 GMT).
    clock.advance_to(datetime(2027, 1, 28, 9, 0, 1, tzinfo=UTC))
    claimed, report = _run_due(engine, clock, ledger, mode)
    assert [op.kind.value for op in claimed] == ["reminder"]
    assert report.recorded == {OperationStatus.SUCCEEDED: 1}

    clock.advance_to(datetime(2027, 1, 29, 9, 0, 1, tzinfo=UTC))
    claimed, report = _run_due(engine, clock, ledger, mode)
    assert [(op.kind.value, op.occurrence_index) for op in claimed] == [("execution", 0)]
    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    assert ledger.balance("GB-DEBIT-1") == Money.of("1750.00", "GBP")

    # Running again at the same instant finds nothing: the execution happened once.
    claimed, _ = _run_due(engine, clock, ledger, mode)
    assert claimed == []

    with engine.connect() as connection:
        operations = connection.execute(
            sa.select(
                tables.operation.c.occurrence_index,
                tables.operation.c.kind,
                tables.operation.c.status,
                tables.operation.c.execution_date,
            ).order_by(tables.operation.c.occurrence_index, tables.operation.c.kind)
        ).all()
        history = connection.execute(
            sa.select(tables.execution_attempt.c.outcome, tables.execution_attempt.c.amount)
        ).all()
        event_types = connection.execute(sa.select(tables.outbox.c.event_type)).scalars().all()
        audit_actions = connection.execute(sa.select(tables.audit_record.c.action)).scalars().all()
        next_index = connection.execute(
            sa.select(tables.schedule.c.next_index).where(tables.schedule.c.id == schedule_id)
        ).scalar_one()

    assert [(index, kind, status) for index, kind, status, _ in operations] == [
        (0, "execution", "succeeded"),
        (0, "reminder", "succeeded"),
        (1, "execution", "pending"),
        (1, "reminder", "pending"),
    ]
    assert str(operations[2].execution_date) == "2027-02-26"  # Sun 28 Feb -> Fri 26 Feb
    assert history == [("succeeded", Decimal("1250.00")), ("succeeded", Decimal("1250.00"))]
    assert event_types == [
        "com.tsched.schedule.created.v1",
        "com.tsched.reminder.due.v1",
        "com.tsched.execution.succeeded.v1",
    ]
    assert audit_actions == ["schedule.created", "operation.succeeded", "operation.succeeded"]
    assert next_index == 2


def test_insufficient_funds_waits_for_the_next_business_morning_then_succeeds(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    document = _monthly_mortgage() | {"amount": {"value": "5000.00", "currency": "GBP"}}
    schedules.create(engine, clock, document)
    clock.advance_to(datetime(2027, 1, 29, 9, 0, 1, tzinfo=UTC))
    claimed, report = _run_due(engine, clock, ledger, TransactionMode.BATCH)
    # The day-before reminder, a day late now, is skipped rather than sent.
    assert report.recorded == {OperationStatus.RETRY_WAIT: 1, OperationStatus.SKIPPED: 1}

    # Friday's decline is retried on Monday 1 February at 08:00 London time.
    clock.advance_to(datetime(2027, 1, 31, 23, 0, tzinfo=UTC))
    assert _run_due(engine, clock, ledger, TransactionMode.BATCH)[0] == []
    ledger.deposit("GB-DEBIT-1", Money.of("2000.00", "GBP"))
    clock.advance_to(datetime(2027, 2, 1, 8, 0, tzinfo=UTC))
    claimed, report = _run_due(engine, clock, ledger, TransactionMode.BATCH)
    assert [op.attempts for op in claimed] == [2]
    assert report.recorded == {OperationStatus.SUCCEEDED: 1}
    assert ledger.balance("GB-DEBIT-1") == Money.of("0.00", "GBP")
    assert ledger.reconcile().ok


def test_an_execution_found_after_the_grace_window_fails_for_review_without_moving_money(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedules.create(engine, clock, _monthly_mortgage())
    clock.advance_to(datetime(2027, 1, 29, 21, 0, tzinfo=UTC))  # 12 hours late
    claimed, report = _run_due(engine, clock, ledger, TransactionMode.BATCH)
    execution = [op for op in claimed if op.kind.value == "execution"]
    assert len(execution) == 1
    assert report.recorded == {OperationStatus.FAILED: 1, OperationStatus.SKIPPED: 1}
    assert ledger.balance("GB-DEBIT-1") == Money.of("3000.00", "GBP")
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(
                tables.execution_attempt.c.error_code,
                tables.execution_attempt.c.recommended_action,
            ).where(tables.execution_attempt.c.operation_id == execution[0].id)
        ).one()
    assert row.error_code == "missed_execution_window"
    assert "re-drive or cancel" in row.recommended_action
