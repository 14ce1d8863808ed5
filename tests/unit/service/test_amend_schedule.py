"""Amending a live schedule on the embedded SQLite store: what has not started takes the
new terms, what has started finishes on the old ones, and nothing is paid twice.

Times: the clock starts on Fri 1 January 2027, 12:00 UTC. The schedules run at 09:00
Europe/London (UTC in winter) from Tue 5 January; a "P1D" reminder is due the day before.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.api import schemas
from scheduler.domain import errors
from scheduler.domain.money import Money
from scheduler.service.amend_schedule import Amended, AmendSchedule, amend_schedule
from scheduler.service.change_schedule_status import (
    ChangeScheduleStatus,
    ScheduleAction,
    change_schedule_status,
)
from tests.support import schedules
from tests.support.clock import SettableClock, january
from tests.support.engine_steps import (
    operation_rows,
    outbox_event_types,
    run_due,
    schedule_audit,
    schedule_row,
    snapshot,
)
from tests.unit.service.conftest import CREDIT, DEBIT


def _weekly(count: int = 4, amount: str = "100.00") -> dict[str, Any]:
    """Every Tuesday from 5 January 2027 at 09:00 London, `count` times."""
    return {
        "kind": "recurring_payment",
        "debit_account": DEBIT,
        "credit_account": CREDIT,
        "amount": {"value": amount, "currency": "GBP"},
        "start_date": "2027-01-05",
        "time_of_day": "09:00",
        "time_zone": "Europe/London",
        "recurrence": {"frequency": "weekly", "count": count},
        "reminders": ["P1D"],
    }


def _one_time(amount: str = "100.00") -> dict[str, Any]:
    return _weekly(amount=amount) | {"kind": "one_time_transfer", "recurrence": None}


def _amend(
    engine: sa.Engine,
    clock: SettableClock,
    schedule_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    expected_version: int,
    customer_id: str = "alice",
) -> Amended:
    """Amend as the API does: the change, as its model parses it, merged by the use case."""
    change = schemas.ScheduleChangeIn.model_validate(changes)
    return amend_schedule(
        AmendSchedule(
            schedule_id=schedule_id,
            customer_id=customer_id,
            change=change.model_dump(mode="json", exclude_unset=True),
            expected_version=expected_version,
            actor="customer:alice",
            correlation_id="corr-amend",
        ),
        uow=SqlUnitOfWork(engine),
        clock=clock,
    )


def _new_amount(value: str) -> dict[str, Any]:
    return {"amount": {"value": value, "currency": "GBP"}}


def _debits(ledger: Ledger) -> Decimal:
    return Money.of("3000.00", "GBP").amount - ledger.balance(DEBIT).amount


def _pending_executions(engine: sa.Engine, schedule_id: uuid.UUID) -> list[sa.Row[Any]]:
    o = tables.operation.c
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(o.occurrence_index, o.due_at, o.amount, o.nominal_date).where(
                    o.schedule_id == schedule_id, o.kind == "execution", o.status == "pending"
                )
            ).all()
        )


def test_a_new_amount_replaces_the_waiting_occurrence_under_new_operation_ids(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())

    amended = _amend(
        engine,
        clock,
        schedule_id,
        _new_amount("150.00"),
        expected_version=1,
    )

    assert amended.stored.schedule.version == 2
    assert amended.stored.schedule.first_index == 1
    assert {(op.occurrence_index, op.kind.value) for op in amended.replaced} == {
        (0, "execution"),
        (0, "reminder"),
    }
    assert operation_rows(engine, schedule_id) == [
        (0, "execution", "cancelled"),
        (0, "reminder", "cancelled"),
        (1, "execution", "pending"),
        (1, "reminder", "pending"),
    ]
    audit = schedule_audit(engine, schedule_id)[-1]
    assert (audit.action, audit.actor, audit.correlation_id) == (
        "schedule.amended",
        "customer:alice",
        "corr-amend",
    )
    assert audit.details["changed"] == ["amount"]
    assert outbox_event_types(engine, schedule_id)[-1] == "com.tsched.schedule.changed.v1"

    run_due(engine, clock, ledger, january(5))

    assert _debits(ledger) == Decimal("150.00")
    [following] = _pending_executions(engine, schedule_id)
    assert (following.occurrence_index, following.amount) == (2, Decimal("150.0000"))
    assert following.due_at == january(12, second=0)


def test_moving_the_time_on_the_day_of_a_payment_does_not_pay_that_day_twice(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())
    run_due(engine, clock, ledger, january(5))
    clock.advance_to(january(5, hour=10))

    _amend(engine, clock, schedule_id, {"time_of_day": "18:00"}, expected_version=1)
    run_due(engine, clock, ledger, january(5, hour=23))

    assert _debits(ledger) == Decimal("100.00")
    [next_execution] = _pending_executions(engine, schedule_id)
    assert next_execution.due_at == january(12, hour=18, second=0)


def test_an_execution_waiting_for_a_retry_finishes_on_the_terms_it_started_with(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(amount="3500.00"))
    run_due(engine, clock, ledger, january(5))  # insufficient funds: waits for a retry
    clock.advance_to(january(5, hour=10))

    amended = _amend(
        engine,
        clock,
        schedule_id,
        _new_amount("50.00"),
        expected_version=1,
    )

    assert {op.nominal_date.isoformat() for op in amended.replaced} == {"2027-01-12"}
    assert (0, "execution", "retry_wait") in operation_rows(engine, schedule_id)
    [next_execution] = _pending_executions(engine, schedule_id)
    assert (next_execution.nominal_date.isoformat(), next_execution.amount) == (
        "2027-01-12",
        Decimal("50.0000"),
    )


def test_a_one_time_transfer_already_started_cannot_be_amended(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _one_time(amount="3500.00"))
    run_due(engine, clock, ledger, january(5))
    before = snapshot(engine)

    with pytest.raises(errors.ScheduleNotChangeable):
        _amend(engine, clock, schedule_id, {"start_date": "2027-01-08"}, expected_version=1)

    assert snapshot(engine) == before


def test_a_one_time_transfer_not_yet_due_moves_to_its_new_date(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _one_time())

    _amend(engine, clock, schedule_id, {"start_date": "2027-01-08"}, expected_version=1)
    run_due(engine, clock, ledger, january(5))
    assert _debits(ledger) == 0
    run_due(engine, clock, ledger, january(8))

    assert _debits(ledger) == Decimal("100.00")
    assert schedule_row(engine, schedule_id).status == "completed"


def test_the_last_amended_occurrence_completes_the_schedule(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly(count=2))
    run_due(engine, clock, ledger, january(5))

    amended = _amend(
        engine,
        clock,
        schedule_id,
        _new_amount("70.00"),
        expected_version=1,
    )
    assert amended.stored.next_index is None
    run_due(engine, clock, ledger, january(12))

    assert _debits(ledger) == Decimal("170.00")
    assert schedule_row(engine, schedule_id).status == "completed"


def test_a_paused_schedule_stays_paused_and_resumes_on_its_new_terms(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())
    change_schedule_status(
        ChangeScheduleStatus(
            schedule_id=schedule_id, customer_id="alice", action=ScheduleAction.PAUSE, actor="t"
        ),
        uow=SqlUnitOfWork(engine),
        clock=clock,
    )

    amended = _amend(
        engine,
        clock,
        schedule_id,
        _new_amount("20.00"),
        expected_version=2,
    )
    assert amended.stored.schedule.status.value == "paused"
    change_schedule_status(
        ChangeScheduleStatus(
            schedule_id=schedule_id, customer_id="alice", action=ScheduleAction.RESUME, actor="t"
        ),
        uow=SqlUnitOfWork(engine),
        clock=clock,
    )
    run_due(engine, clock, ledger, january(5))

    assert _debits(ledger) == Decimal("20.00")


@pytest.mark.parametrize(
    ("changes", "version", "error"),
    [
        ({"reminders": []}, 7, errors.StaleVersion),
        (
            {"start_date": "2026-12-01", "recurrence": {"frequency": "weekly", "count": 2}},
            1,
            errors.InvalidSchedule,
        ),
        ({"amount": {"value": "10.00", "currency": "EUR"}}, 1, errors.InvalidSchedule),
    ],
    ids=["stale-version", "nothing-left-to-run", "other-currency"],
)
def test_a_refused_amendment_changes_nothing(
    engine: sa.Engine,
    clock: SettableClock,
    changes: dict[str, Any],
    version: int,
    error: type[errors.SchedulerError],
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())
    before = snapshot(engine)

    with pytest.raises(error):
        _amend(engine, clock, schedule_id, changes, expected_version=version)

    assert snapshot(engine) == before


def test_the_accounts_of_a_schedule_cannot_be_amended(
    engine: sa.Engine, clock: SettableClock
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())
    before = snapshot(engine)

    with pytest.raises(errors.InvalidSchedule) as raised:
        amend_schedule(
            AmendSchedule(
                schedule_id=schedule_id,
                customer_id="alice",
                change={"debit_account": "GB-X"},
                expected_version=1,
                actor="customer:alice",
            ),
            uow=SqlUnitOfWork(engine),
            clock=clock,
        )
    assert raised.value.field == "debit_account"
    assert snapshot(engine) == before


def test_another_customers_schedule_is_unknown_and_unchanged(
    engine: sa.Engine, clock: SettableClock
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())
    before = snapshot(engine)

    with pytest.raises(errors.UnknownSchedule):
        _amend(engine, clock, schedule_id, {"reminders": []}, expected_version=1, customer_id="bob")
    assert snapshot(engine) == before


def test_a_change_setting_a_required_field_to_null_is_refused_by_name(
    engine: sa.Engine, clock: SettableClock
) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())

    with pytest.raises(errors.ValidationError) as raised:
        _amend(engine, clock, schedule_id, {"amount": None}, expected_version=1)
    assert raised.value.field == "amount"


def test_a_cancelled_schedule_cannot_be_amended(engine: sa.Engine, clock: SettableClock) -> None:
    schedule_id = schedules.create(engine, clock, _weekly())
    change_schedule_status(
        ChangeScheduleStatus(
            schedule_id=schedule_id, customer_id="alice", action=ScheduleAction.CANCEL, actor="t"
        ),
        uow=SqlUnitOfWork(engine),
        clock=clock,
    )

    with pytest.raises(errors.ScheduleNotChangeable):
        _amend(engine, clock, schedule_id, {"reminders": []}, expected_version=2)
