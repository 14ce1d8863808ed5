"""Re-driving a FAILED or DEAD operation (DESIGN.md §3 "Failures", "Audit"): back to
PENDING and claimable now, with audit record and event in one transaction, then run by
the real dispatcher against the embedded ledger, under the operation's own id."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import errors
from scheduler.domain.events import EventType
from scheduler.domain.money import Money
from scheduler.domain.operation import OperationKind, OperationStatus
from scheduler.domain.retry import RetryPolicy
from scheduler.ports import PaymentGateway, TransferOutcome, TransferRequest, TransferResult
from scheduler.service.change_schedule_status import (
    ChangeScheduleStatus,
    ScheduleAction,
    change_schedule_status,
)
from scheduler.service.claim_due import claim_due
from scheduler.service.execute_claimed import Dispatch, execute_claimed
from scheduler.service.redrive_operation import (
    Redriven,
    RedriveOperation,
    ScheduleHalted,
    redrive_operation,
)
from tests.support import schedules
from tests.support.clock import SettableClock

#: Monday 4 January 2027; the transfers fall due on Tuesday 5 January, 10:00 London (UTC).
START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
DUE = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
STAFF = "staff:ops-1"
#: A credit account the ledger does not have (until a test opens it).
NOWHERE = "GB-NOWHERE-1"


class LostAnswerGateway:
    """Books through the ledger but answers UNAVAILABLE, as when the gateway's answer is
    lost on the way back: the money moved and the dispatcher cannot know."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        self.ledger.transfer_many(requests)
        return [TransferResult(outcome=TransferOutcome.UNAVAILABLE, reason="timed out")] * len(
            requests
        )


class DownGateway:
    """A gateway that never answers."""

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        return [TransferResult(outcome=TransferOutcome.UNAVAILABLE, reason="down")] * len(requests)


@dataclass
class Bank:
    """The store, its ledger (Alice's GB-DEBIT-1 holds 500.00) and a settable clock."""

    engine: sa.Engine
    clock: SettableClock
    ledger: Ledger

    def transfer(self, amount: str, credit_account: str = "GB-CREDIT-1") -> uuid.UUID:
        """A one-time transfer due at DUE; returns its execution's operation id."""
        document = schedules.one_time_transfer("2027-01-05", amount)
        return self.execution(self.create(document | {"credit_account": credit_account}))

    def create(self, document: dict[str, Any]) -> uuid.UUID:
        return schedules.create(self.engine, self.clock, document)

    def execution(self, schedule_id: uuid.UUID, index: int = 0) -> uuid.UUID:
        t = tables.operation
        [operation_id] = self._scalars(
            sa.select(t.c.id).where(
                t.c.schedule_id == schedule_id,
                t.c.kind == OperationKind.EXECUTION.value,
                t.c.occurrence_index == index,
            )
        )
        assert isinstance(operation_id, uuid.UUID)
        return operation_id

    def run_until(
        self,
        until: datetime,
        gateway: PaymentGateway | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Run the dispatcher at each due time up to `until`, as `tsched serve` would."""
        dispatch = Dispatch(
            uow_factory=lambda: SqlUnitOfWork(self.engine),
            gateway=gateway or self.ledger,
            clock=self.clock,
            worker="worker-1",
            retry=retry or RetryPolicy(),
            rng=random.Random(0),  # noqa: S311 (jitter, not secrets)
        )
        while True:
            with SqlUnitOfWork(self.engine) as uow:
                due = uow.operations.next_due_at()
            if due is None or due > until:
                return
            self.clock.advance_to(max(due, self.clock.now()))
            claimed = claim_due(
                uow=SqlUnitOfWork(self.engine),
                clock=self.clock,
                worker="worker-1",
                limit=100,
                lease=LEASE,
            )
            execute_claimed(claimed, dispatch)

    def redrive(self, operation_id: uuid.UUID, reason: str = "funds arrived") -> Redriven:
        return redrive_operation(
            RedriveOperation(
                operation_id=operation_id, actor=STAFF, reason=reason, correlation_id="trace-1"
            ),
            uow=SqlUnitOfWork(self.engine),
            clock=self.clock,
        )

    def row(self, operation_id: uuid.UUID) -> sa.Row[Any]:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(tables.operation).where(tables.operation.c.id == operation_id)
            ).one()

    def history(self, operation_id: uuid.UUID) -> list[tuple[int, str]]:
        t = tables.execution_attempt
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(t.c.attempt, t.c.outcome).where(t.c.operation_id == operation_id)
            )
            return sorted((row.attempt, row.outcome) for row in rows)

    def executions(self, schedule_id: uuid.UUID) -> list[tuple[uuid.UUID, int, str]]:
        """(id, occurrence index, status) of the schedule's executions, in order."""
        t = tables.operation
        rows = self._rows(
            sa.select(t.c.id, t.c.occurrence_index, t.c.status)
            .where(t.c.schedule_id == schedule_id, t.c.kind == OperationKind.EXECUTION.value)
            .order_by(t.c.occurrence_index)
        )
        return [(row.id, row.occurrence_index, row.status) for row in rows]

    def redrive_records(self, operation_id: uuid.UUID) -> list[sa.Row[Any]]:
        t = tables.audit_record
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(t).where(
                        t.c.action == "operation.redriven", t.c.subject_id == str(operation_id)
                    )
                )
            )

    def redrive_events(self) -> list[sa.Row[Any]]:
        t = tables.outbox
        return self._rows(sa.select(t).where(t.c.event_type == EventType.OPERATION_REDRIVEN.value))

    def bookings(self, operation_id: uuid.UUID) -> int:
        t = tables.ledger_entry
        return len(self._scalars(sa.select(t.c.id).where(t.c.idempotency_key == str(operation_id))))

    def _rows(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def _scalars(self, query: sa.Select[Any]) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())


@pytest.fixture
def bank(engine: sa.Engine) -> Bank:
    clock = SettableClock(START)
    ledger = Ledger(engine, clock)
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("500.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    return Bank(engine=engine, clock=clock, ledger=ledger)


@pytest.fixture
def declined(bank: Bank) -> uuid.UUID:
    """A 900.00 transfer from 500.00, declined three times (5, 6 and 7 January): FAILED."""
    operation_id = bank.transfer("900.00")
    bank.run_until(DUE + timedelta(days=5))
    row = bank.row(operation_id)
    assert (row.status, row.attempts, row.declines, row.last_error_code) == (
        "failed",
        3,
        3,
        "insufficient_funds",
    )
    return operation_id


def test_a_re_driven_operation_is_pending_and_claimable_now_with_its_declines_reset(
    bank: Bank, declined: uuid.UUID
) -> None:
    result = bank.redrive(declined)

    row = bank.row(declined)
    assert (row.status, row.available_at, row.lease_owner, row.lease_expires_at) == (
        "pending",
        bank.clock.now(),
        None,
        None,
    )
    assert (row.attempts, row.declines) == (3, 0)
    assert (result.previous_status, result.operation.status) == (
        OperationStatus.FAILED,
        OperationStatus.PENDING,
    )


def test_a_re_drive_is_audited_and_announced_with_its_actor_reason_and_previous_status(
    bank: Bank, declined: uuid.UUID
) -> None:
    bank.redrive(declined, reason="customer topped up")

    [record] = bank.redrive_records(declined)
    assert (record.actor, record.correlation_id, record.customer_id) == (
        STAFF,
        "trace-1",
        "alice",
    )
    assert record.details == {
        "from": "failed",
        "reason": "customer topped up",
        "attempts": 3,
        "error_code": "insufficient_funds",
    }
    [event] = bank.redrive_events()
    data = event.payload["data"]
    assert (data["operation_id"], data["previous_status"], data["status"]) == (
        str(declined),
        "failed",
        "pending",
    )
    assert (data["debit_account"], data["amount"]) == (
        "****IT-1",
        {"value": "900.00", "currency": "GBP"},
    )


def test_once_money_is_there_the_re_driven_operation_succeeds_with_one_booking(
    bank: Bank, declined: uuid.UUID
) -> None:
    bank.ledger.deposit("GB-DEBIT-1", Money.of("500.00", "GBP"))
    bank.redrive(declined)

    bank.run_until(bank.clock.now())

    assert bank.row(declined).status == "succeeded"
    assert bank.history(declined) == [
        (1, "retry_wait"),
        (2, "retry_wait"),
        (3, "failed"),
        (4, "succeeded"),
    ]
    assert bank.bookings(declined) == 1
    assert bank.ledger.balance("GB-DEBIT-1") == Money.of("100.00", "GBP")


def test_the_smart_retry_starts_afresh_a_decline_after_a_re_drive_waits_for_the_morning(
    bank: Bank, declined: uuid.UUID
) -> None:
    bank.redrive(declined)

    bank.run_until(bank.clock.now())

    row = bank.row(declined)
    assert (row.status, row.declines) == ("retry_wait", 1)
    assert row.available_at == datetime(2027, 1, 8, 8, 0, tzinfo=UTC)  # the next morning


def test_after_an_unavailable_answer_the_re_drive_gets_the_first_booking_back(
    bank: Bank,
) -> None:
    """The gateway booked but its answer was lost: the operation went DEAD (a limit of
    one claim here). The re-drive asks again under the same id and the ledger answers
    with that first booking: no money moves twice."""
    operation_id = bank.transfer("100.00")
    bank.run_until(DUE, LostAnswerGateway(bank.ledger), RetryPolicy(max_transient_attempts=1))
    assert (bank.row(operation_id).status, bank.bookings(operation_id)) == ("dead", 1)

    bank.redrive(operation_id, reason="gateway is back")
    bank.run_until(bank.clock.now())

    assert bank.row(operation_id).status == "succeeded"
    assert bank.bookings(operation_id) == 1
    assert bank.ledger.balance("GB-DEBIT-1") == Money.of("400.00", "GBP")


def test_a_re_driven_dead_operation_is_tried_again(bank: Bank) -> None:
    operation_id = bank.transfer("100.00")
    bank.run_until(DUE + timedelta(hours=2), DownGateway())
    assert (bank.row(operation_id).status, bank.row(operation_id).attempts) == ("dead", 8)

    bank.redrive(operation_id, reason="gateway is back")
    bank.run_until(bank.clock.now())

    assert bank.row(operation_id).status == "succeeded"


@pytest.mark.parametrize("status", ["succeeded", "pending"])
def test_only_a_failed_or_dead_operation_is_re_driven_and_a_refusal_changes_nothing(
    bank: Bank, status: str
) -> None:
    operation_id = bank.transfer("100.00")
    if status == "succeeded":
        bank.run_until(DUE)
    before = bank.row(operation_id)

    with pytest.raises(errors.IllegalTransition) as refused:
        bank.redrive(operation_id)

    assert (refused.value.current, refused.value.requested) == (status, "pending")
    assert bank.row(operation_id) == before
    assert (bank.redrive_records(operation_id), bank.redrive_events()) == ([], [])


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (ScheduleAction.CANCEL, "the operation's schedule is cancelled"),
        (ScheduleAction.PAUSE, "the operation's schedule is paused: resume the schedule first"),
    ],
)
def test_an_operation_of_a_cancelled_or_paused_schedule_is_not_re_driven(
    bank: Bank, action: ScheduleAction, message: str
) -> None:
    schedule_id = bank.create(schedules.MORTGAGE | {"credit_account": NOWHERE})
    bank.run_until(datetime(2027, 1, 30, tzinfo=UTC))
    failed = bank.execution(schedule_id)
    assert bank.row(failed).last_error_code == "unknown_account"
    change_schedule_status(
        ChangeScheduleStatus(
            schedule_id=schedule_id, customer_id="alice", action=action, actor="customer:alice"
        ),
        uow=SqlUnitOfWork(bank.engine),
        clock=bank.clock,
    )

    with pytest.raises(ScheduleHalted, match=message):
        bank.redrive(failed)

    assert bank.row(failed).status == "failed"


def test_an_unknown_operation_is_refused(bank: Bank) -> None:
    with pytest.raises(errors.UnknownOperation):
        bank.redrive(uuid.uuid4())


def test_the_change_audit_record_and_event_commit_together_or_not_at_all(
    bank: Bank, declined: uuid.UUID
) -> None:
    def fail(_uow: object, _result: Redriven) -> None:
        raise RuntimeError("the response could not be kept")

    with pytest.raises(RuntimeError):
        redrive_operation(
            RedriveOperation(operation_id=declined, actor=STAFF, reason="try"),
            uow=SqlUnitOfWork(bank.engine),
            clock=bank.clock,
            before_commit=fail,
        )

    assert bank.row(declined).status == "failed"
    assert (bank.redrive_records(declined), bank.redrive_events()) == ([], [])


def test_a_re_driven_success_leaves_the_next_occurrence_as_it_was(bank: Bank) -> None:
    """The next occurrence was materialised when the first one failed; the re-driven
    success neither adds it again nor skips ahead."""
    schedule_id = bank.create(schedules.MORTGAGE | {"credit_account": NOWHERE})
    bank.run_until(datetime(2027, 1, 30, tzinfo=UTC))
    failed = bank.execution(schedule_id)
    following = bank.execution(schedule_id, 1)
    bank.ledger.open_account(NOWHERE, "bob", "GBP")
    bank.ledger.deposit("GB-DEBIT-1", Money.of("1000.00", "GBP"))

    bank.redrive(failed, reason="payee account opened")
    bank.run_until(bank.clock.now())

    assert bank.executions(schedule_id) == [
        (failed, 0, "succeeded"),
        (following, 1, "pending"),
    ]
    assert bank.bookings(failed) == 1
