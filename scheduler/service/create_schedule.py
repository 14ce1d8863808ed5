"""Use case: save a new schedule and materialise its first occurrence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scheduler import tracing
from scheduler.domain import errors, events, plan
from scheduler.domain.audit import AuditEntry
from scheduler.domain.occurrence import operations_for
from scheduler.domain.schedule import Schedule
from scheduler.ports import AccountDirectory, Clock, StoredSchedule, UnitOfWork
from scheduler.service import event_data


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSchedule:
    """Save `schedule`, as the channel sent it (`definition`), on behalf of `actor`."""

    schedule: Schedule
    definition: dict[str, Any]
    channel: str
    actor: str
    correlation_id: str | None = None


def create_schedule(
    cmd: CreateSchedule,
    *,
    uow: UnitOfWork,
    clock: Clock,
    accounts: AccountDirectory,
    before_commit: Callable[[UnitOfWork, StoredSchedule], None] | None = None,
) -> StoredSchedule:
    """Store the schedule, its first execution still in the future and that execution's
    reminders, an audit record and a "schedule created" event, in one transaction.
    `before_commit` may add to that transaction (the API keeps its response there).

    Raises `AccountNotHeld` if the schedule's customer does not hold the account it
    debits (per `accounts`, the books of the gateway that moves the money: the same
    answer whether the account exists or not, so accounts cannot be probed), and
    `InvalidSchedule` if the schedule has no execution after now."""
    now = clock.now()
    schedule = cmd.schedule
    if not accounts.holds(schedule.customer_id, schedule.debit_account):
        raise errors.AccountNotHeld(
            "the account to debit is not one of the customer's", field="debit_account"
        )
    upcoming = plan.preview(schedule, 1, after=now)
    if not upcoming:
        raise errors.InvalidSchedule(
            "the schedule has no execution in the future", field="start_date"
        )
    first = upcoming[0]
    following = first.index + 1
    next_index = following if plan.occurrence_date(schedule, following) is not None else None
    stored = StoredSchedule(
        schedule=schedule, next_index=next_index, channel=cmd.channel, definition=cmd.definition
    )
    with uow:
        uow.schedules.add(stored, now)
        uow.operations.add(
            operations_for(schedule, first, now=now, traceparent=tracing.current_traceparent()),
            now,
        )
        uow.audit.append(
            [
                AuditEntry(
                    occurred_at=now,
                    actor=cmd.actor,
                    action="schedule.created",
                    subject_type="schedule",
                    subject_id=str(schedule.id),
                    customer_id=schedule.customer_id,
                    correlation_id=cmd.correlation_id,
                    details={"channel": cmd.channel, "definition": cmd.definition},
                )
            ]
        )
        uow.outbox.add(
            [
                event_data.schedule_event(
                    events.EventType.SCHEDULE_CREATED, schedule, now, first_due_at=first.due_at
                )
            ]
        )
        if before_commit is not None:
            before_commit(uow, stored)
        uow.commit()
    return stored
