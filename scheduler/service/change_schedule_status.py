"""Use case: pause, resume or cancel a schedule.

The change and its effect on the schedule's operations commit in one transaction:

- cancel: every PENDING or RETRY_WAIT operation becomes CANCELLED;
- pause: nothing is deleted; the dispatcher skips an operation whose schedule is paused
  when it comes due, so resuming before then lets it run as planned, and an occurrence
  that fell due while paused is skipped, never caught up;
- resume: the schedule is active again from its next due operation.

An operation a worker has already claimed is in flight: its transfer may have reached
the payment gateway and cannot be recalled. The result names such operations so the
caller can say so, rather than promise what the bank cannot keep.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from uuid import UUID

from scheduler.domain import errors
from scheduler.domain.audit import AuditEntry
from scheduler.domain.events import EventType
from scheduler.domain.operation import Operation
from scheduler.domain.schedule import ScheduleStatus, can_change_status
from scheduler.ports import Clock, StoredSchedule, UnitOfWork
from scheduler.service import event_data
from scheduler.service.read_schedule import owned_schedule


class ScheduleAction(enum.StrEnum):
    """What a customer or operator may do to a schedule's status."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


_TARGET = {
    ScheduleAction.PAUSE: ScheduleStatus.PAUSED,
    ScheduleAction.RESUME: ScheduleStatus.ACTIVE,
    ScheduleAction.CANCEL: ScheduleStatus.CANCELLED,
}
_AUDIT_ACTION = {
    ScheduleAction.PAUSE: "schedule.paused",
    ScheduleAction.RESUME: "schedule.resumed",
    ScheduleAction.CANCEL: "schedule.cancelled",
}
_EVENT = {
    ScheduleAction.PAUSE: EventType.SCHEDULE_PAUSED,
    ScheduleAction.RESUME: EventType.SCHEDULE_RESUMED,
    ScheduleAction.CANCEL: EventType.SCHEDULE_CANCELLED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeScheduleStatus:
    """Apply `action` to schedule `schedule_id` of customer `customer_id` on behalf of
    `actor`: another customer's schedule is as unknown as a missing one. With
    `expected_version` (an HTTP `If-Match`), refuse if the schedule has changed since."""

    schedule_id: UUID
    customer_id: str
    action: ScheduleAction
    actor: str
    expected_version: int | None = None
    reason: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged:
    """The schedule after the change; `changed` is False when it already had the
    requested status (repeating a pause is not an error and records nothing)."""

    stored: StoredSchedule
    changed: bool
    cancelled: list[Operation]
    in_flight: list[Operation]


def change_schedule_status(
    cmd: ChangeScheduleStatus,
    *,
    uow: UnitOfWork,
    clock: Clock,
    before_commit: Callable[[UnitOfWork, StatusChanged], None] | None = None,
) -> StatusChanged:
    """Pause, resume or cancel, with audit record and event, in one transaction, to
    which `before_commit` may add (the API keeps its response there).

    Raises `UnknownSchedule`, `StaleVersion`, or `ScheduleNotChangeable` (a cancelled or
    completed schedule stays so)."""
    now = clock.now()
    target = _TARGET[cmd.action]
    with uow:
        stored = _current(uow, cmd)
        schedule = stored.schedule
        if schedule.status is target:
            return StatusChanged(
                stored=stored,
                changed=False,
                cancelled=[],
                in_flight=uow.operations.in_flight(schedule.id),
            )
        if not can_change_status(schedule.status, target):
            raise errors.ScheduleNotChangeable(
                schedule.status.value, target.value, schedule_id=str(schedule.id)
            )
        if not uow.schedules.update_status(
            schedule.id, target, expected_version=schedule.version, at=now
        ):
            latest = _current(uow, cmd).schedule.version
            raise errors.StaleVersion(
                schedule_id=str(schedule.id), expected=schedule.version, current=latest
            )
        changed = replace(stored, schedule=schedule.with_status(target))
        cancelled = (
            uow.operations.cancel_open(schedule.id, now)
            if cmd.action is ScheduleAction.CANCEL
            else []
        )
        uow.audit.append(
            [
                AuditEntry(
                    occurred_at=now,
                    actor=cmd.actor,
                    action=_AUDIT_ACTION[cmd.action],
                    subject_type="schedule",
                    subject_id=str(schedule.id),
                    customer_id=schedule.customer_id,
                    correlation_id=cmd.correlation_id,
                    details={
                        "from": schedule.status.value,
                        "version": changed.schedule.version,
                        "reason": cmd.reason,
                        "cancelled_operations": [str(op.id) for op in cancelled],
                    },
                )
            ]
        )
        uow.outbox.add(
            [
                event_data.schedule_event(
                    _EVENT[cmd.action], changed.schedule, now, reason=cmd.reason
                )
            ]
        )
        result = StatusChanged(
            stored=changed,
            changed=True,
            cancelled=cancelled,
            in_flight=uow.operations.in_flight(schedule.id),
        )
        if before_commit is not None:
            before_commit(uow, result)
        uow.commit()
    return result


def _current(uow: UnitOfWork, cmd: ChangeScheduleStatus) -> StoredSchedule:
    stored = owned_schedule(uow, cmd.schedule_id, cmd.customer_id)
    version = stored.schedule.version
    if cmd.expected_version is not None and cmd.expected_version != version:
        raise errors.StaleVersion(
            schedule_id=str(cmd.schedule_id), expected=cmd.expected_version, current=version
        )
    return stored
