"""Materialising occurrences: the operation rows for one planned execution of a schedule.

Operation ids are derived from the occurrence key (schedule, index, kind, offset), so
the same occurrence always has the same id, and the id is the idempotency key the
payment gateway sees: even a duplicated materialisation could not pay twice.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

from scheduler.domain.operation import Operation, OperationKind, OperationStatus
from scheduler.domain.plan import PlannedExecution
from scheduler.domain.schedule import Schedule


def operation_id(schedule_id: uuid.UUID, index: int, kind: OperationKind, offset: str) -> uuid.UUID:
    """The stable id of an occurrence's operation."""
    return uuid.uuid5(schedule_id, f"{index}/{kind.value}/{offset}")


def operations_for(
    schedule: Schedule,
    planned: PlannedExecution,
    *,
    now: datetime,
    traceparent: str | None = None,
) -> list[Operation]:
    """The execution of `planned` and its reminders still in the future at `now`
    (a reminder already past when the occurrence is materialised is not created), each
    carrying `traceparent`, the trace context creating them."""
    execution = Operation(
        id=operation_id(schedule.id, planned.index, OperationKind.EXECUTION, ""),
        schedule_id=schedule.id,
        customer_id=schedule.customer_id,
        kind=OperationKind.EXECUTION,
        occurrence_index=planned.index,
        reminder_offset="",
        nominal_date=planned.nominal_date,
        execution_date=planned.execution_date,
        due_at=planned.due_at,
        status=OperationStatus.PENDING,
        attempts=0,
        declines=0,
        debit_account=schedule.debit_account,
        credit_account=schedule.credit_account,
        amount=schedule.amount,
        traceparent=traceparent,
    )
    reminders = [
        dataclasses.replace(
            execution,
            id=operation_id(schedule.id, planned.index, OperationKind.REMINDER, str(item.offset)),
            kind=OperationKind.REMINDER,
            reminder_offset=str(item.offset),
            due_at=item.due_at,
        )
        for item in planned.reminders
        if item.due_at > now
    ]
    return [execution, *reminders]
