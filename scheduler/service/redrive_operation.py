"""Use case: operations staff re-drive a FAILED or DEAD operation (send it back to PENDING).

The operation becomes claimable at once, with its lease cleared and its business-decline
count reset, so the smart retry for insufficient funds starts afresh (the dispatcher
fails an operation at its third decline, counted in `declines`). Its attempt count is
kept: the history numbers attempts on (an attempt number is unique per operation), and
the dispatcher's bounds count only the attempts since the re-drive
(`Operation.attempts_before_redrive`), so a DEAD operation gets a full set again.

A re-drive keeps the operation's id, and the id is the idempotency key the payment
gateway receives. That is what makes a re-drive safe after an UNAVAILABLE outcome,
where nobody knows whether the money moved: the gateway answers a repeated key with the
first booking made under it, so if the earlier attempt did book, the re-driven one gets
that booking back (and records it as SUCCEEDED) instead of moving the money twice; if it
did not, the money moves now. A new operation for the same occurrence would carry a new
key and could pay twice.

Nothing is needed for the schedule's next occurrence: the dispatcher materialised it
when it recorded this operation's first outcome (every recorded execution outcome,
failures included, advances the schedule's next index), so the re-driven execution's
success finds the next occurrence already there and creates nothing twice.

The change, its audit record and its event commit in one transaction. Locks are taken
schedule first, then operation: the order cancelling a schedule and recording outcomes
take them in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from scheduler import tracing
from scheduler.domain import errors
from scheduler.domain.audit import AuditEntry
from scheduler.domain.events import Event, EventType
from scheduler.domain.operation import (
    Operation,
    OperationStatus,
    can_transition,
    transition,
)
from scheduler.domain.schedule import ScheduleStatus
from scheduler.ports import Clock, UnitOfWork
from scheduler.service import event_data

#: The states a person may re-drive from: those the state machine lets return to PENDING.
REDRIVABLE = frozenset(
    status for status in OperationStatus if can_transition(status, OperationStatus.PENDING)
)
#: Schedule states whose executions the dispatcher skips: a re-drive would only skip it.
_HALTED = (ScheduleStatus.CANCELLED, ScheduleStatus.PAUSED)


class ScheduleHalted(errors.IllegalTransition):
    """The operation's schedule is cancelled or paused, so a re-driven execution would
    only be skipped."""

    code = "schedule_halted"

    def __init__(self, operation: Operation, schedule_status: ScheduleStatus) -> None:
        super().__init__(
            operation.status.value, OperationStatus.PENDING.value, operation_id=str(operation.id)
        )
        what_to_do = (
            "resume the schedule first"
            if schedule_status is ScheduleStatus.PAUSED
            else "a cancelled schedule's operations are not run again"
        )
        self.message = f"the operation's schedule is {schedule_status.value}: {what_to_do}"
        self.args = (self.message,)
        self.details.update(
            schedule_id=str(operation.schedule_id), schedule_status=schedule_status.value
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RedriveOperation:
    """Re-drive operation `operation_id` on behalf of `actor`, for `reason`."""

    operation_id: UUID
    actor: str
    reason: str
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Redriven:
    """The operation as it is now (PENDING), the status it left, and when."""

    operation: Operation
    previous_status: OperationStatus
    at: datetime


def redrive_operation(
    cmd: RedriveOperation,
    *,
    uow: UnitOfWork,
    clock: Clock,
    before_commit: Callable[[UnitOfWork, Redriven], None] | None = None,
) -> Redriven:
    """Send the operation back to PENDING, claimable now, with audit record and event, in
    one transaction, to which `before_commit` may add (the API keeps its response there).

    Raises `UnknownOperation`, `IllegalTransition` (it is not FAILED or DEAD) or
    `ScheduleHalted`."""
    now = clock.now()
    with uow:
        found = uow.operations.get(cmd.operation_id)
        if found is None:
            raise errors.UnknownOperation(str(cmd.operation_id))
        schedule = uow.schedules.lock([found.schedule_id])[found.schedule_id]
        operation = uow.operations.lock(cmd.operation_id)
        if operation is None:
            raise errors.UnknownOperation(str(cmd.operation_id))
        transition(operation.status, OperationStatus.PENDING, operation_id=str(operation.id))
        if schedule.status in _HALTED:
            raise ScheduleHalted(operation, schedule.status)
        uow.operations.redrive(operation.id, now)
        result = Redriven(
            operation=replace(
                operation,
                status=OperationStatus.PENDING,
                declines=0,
                attempts_before_redrive=operation.attempts,
                lease_owner=None,
                lease_expires_at=None,
            ),
            previous_status=operation.status,
            at=now,
        )
        uow.audit.append([_audit_entry(cmd, result)])
        uow.outbox.add([_event(cmd, result)])
        if before_commit is not None:
            before_commit(uow, result)
        uow.commit()
    return result


def _audit_entry(cmd: RedriveOperation, result: Redriven) -> AuditEntry:
    operation = result.operation
    return AuditEntry(
        occurred_at=result.at,
        actor=cmd.actor,
        action="operation.redriven",
        subject_type="operation",
        subject_id=str(operation.id),
        customer_id=operation.customer_id,
        correlation_id=cmd.correlation_id,
        details={
            "from": result.previous_status.value,
            "reason": cmd.reason,
            "attempts": operation.attempts,
            "error_code": operation.last_error_code,
        },
    )


def _event(cmd: RedriveOperation, result: Redriven) -> Event:
    """The event; its id is stable per re-drive, since an operation is re-driven at most
    once per attempt (it must fail again, after another claim, to be re-driven again)."""
    operation = result.operation
    event_type = EventType.OPERATION_REDRIVEN
    return Event(
        event_id=uuid.uuid5(operation.id, f"{event_type.value}/{operation.attempts}"),
        type=event_type,
        schedule_id=operation.schedule_id,
        customer_id=operation.customer_id,
        occurred_at=result.at,
        traceparent=tracing.current_traceparent(),
        data={
            "operation_id": str(operation.id),
            "schedule_id": str(operation.schedule_id),
            "kind": operation.kind.value,
            "occurrence_index": operation.occurrence_index,
            "due_at": operation.due_at.isoformat(),
            "attempts": operation.attempts,
            "previous_status": result.previous_status.value,
            "error_code": operation.last_error_code,
            "status": operation.status.value,
            "available_at": result.at.isoformat(),
            "amount": event_data.amount(operation.amount),
            "debit_account": event_data.masked(operation.debit_account),
            "credit_account": event_data.masked(operation.credit_account),
            "reason": cmd.reason,
        },
    )
