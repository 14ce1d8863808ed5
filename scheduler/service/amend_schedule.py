"""Use case: change a live schedule's amount, timing or reminders.

An amendment applies to what has not started. In one transaction:

- the occurrence waiting to run (its execution and reminders, never attempted) is
  cancelled, and the first occurrence of the amended terms is materialised in its place;
- an execution already started (in flight, waiting for a retry, re-driven) finishes on
  the terms it was started with: its transfer may already have reached the gateway;
- the amended terms start a new series of occurrence numbers after every number used so
  far (`Schedule.first_index`), so an operation id, which is the gateway's idempotency
  key, never stands for two different transfers;
- the first amended execution is due after now and falls on a later date than any
  execution already started, so moving the time of day on the day of a payment cannot
  pay that day twice.

The accounts and the kind of a schedule do not change: a different payee or debit
account is a new schedule. Nor does the currency, which is the accounts'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from scheduler import tracing
from scheduler.domain import definition, errors, events, plan
from scheduler.domain.audit import AuditEntry
from scheduler.domain.occurrence import operations_for
from scheduler.domain.operation import Operation
from scheduler.domain.schedule import LIVE_STATUSES, Schedule, ScheduleKind
from scheduler.ports import Clock, StoredSchedule, UnitOfWork
from scheduler.service import event_data


@dataclass(frozen=True, slots=True, kw_only=True)
class AmendSchedule:
    """Replace, in customer `customer_id`'s schedule `schedule_id`, the fields of its
    definition that `change` gives (each whole: a new `recurrence` replaces the old
    rule), if the schedule is still at `expected_version`."""

    schedule_id: UUID
    customer_id: str
    change: Mapping[str, Any]
    expected_version: int
    actor: str
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Amended:
    """The schedule on its new terms, the operations the amendment replaced, and those
    in flight, which finish on the old terms."""

    stored: StoredSchedule
    replaced: list[Operation]
    in_flight: list[Operation]


def amend_schedule(
    cmd: AmendSchedule,
    *,
    uow: UnitOfWork,
    clock: Clock,
    before_commit: Callable[[UnitOfWork, Amended], None] | None = None,
) -> Amended:
    """Amend, with audit record and "schedule changed" event, in one transaction, to
    which `before_commit` may add (the API keeps its response there).

    The change is merged with the stored definition under the schedule's lock, so two
    amendments cannot both start from the same version. Raises `UnknownSchedule` (also
    for another customer's schedule), `StaleVersion`, `ScheduleNotChangeable` (an ended
    schedule, or a one-time transfer already started), `ValidationError` (an empty
    change), `InvalidSchedule` (a change to the accounts, kind or currency, or terms
    with no execution left to run), or the domain's error for a value it refuses."""
    if not cmd.change:
        raise errors.ValidationError("give at least one field to change")
    definition.check_change(cmd.change)
    now = clock.now()
    schedule_id = cmd.schedule_id
    with uow:
        state = uow.schedules.lock([schedule_id]).get(schedule_id)
        current = uow.schedules.get_many([schedule_id]).get(schedule_id)
        if state is None or current is None or current.schedule.customer_id != cmd.customer_id:
            raise errors.UnknownSchedule(str(schedule_id))
        if state.version != cmd.expected_version:
            raise errors.StaleVersion(
                schedule_id=str(schedule_id), expected=cmd.expected_version, current=state.version
            )
        if state.status not in LIVE_STATUSES:
            raise errors.ScheduleNotChangeable(
                state.status.value, "amended", schedule_id=str(schedule_id)
            )
        merged = current.definition | dict(cmd.change)
        definition.check_text(merged)
        terms = definition.to_schedule(
            merged,
            schedule_id=schedule_id,
            customer_id=cmd.customer_id,
            created_at=current.schedule.created_at,
        )
        _require_same_parties(current.schedule, terms)
        # Cancel before looking at what has started: a worker may claim the waiting
        # occurrence until then, and must then count as started, or the amended series
        # could pay that date again. Once cancelled (and locked), it cannot be claimed.
        replaced = uow.operations.cancel_not_started(schedule_id, now)
        so_far = uow.operations.occurrences_so_far(schedule_id)
        started = so_far.latest_started is not None
        if current.schedule.kind is ScheduleKind.ONE_TIME_TRANSFER and started:
            raise errors.ScheduleNotChangeable("started", "amended", schedule_id=str(schedule_id))
        amended = replace(
            terms,
            status=state.status,
            version=state.version + 1,
            first_index=(so_far.highest_index or 0) + 1,
        )
        first = _first_execution(amended, so_far.latest_started, now)
        following = first.index + 1
        stored = StoredSchedule(
            schedule=amended,
            next_index=following if plan.occurrence_date(amended, following) is not None else None,
            channel=current.channel,
            definition=merged,
        )
        if not uow.schedules.amend(stored, expected_version=state.version, at=now):
            raise errors.StaleVersion(
                schedule_id=str(schedule_id), expected=state.version, current=state.version + 1
            )
        uow.operations.add(
            operations_for(amended, first, now=now, traceparent=tracing.current_traceparent()),
            now,
        )
        uow.audit.append(
            [
                AuditEntry(
                    occurred_at=now,
                    actor=cmd.actor,
                    action="schedule.amended",
                    subject_type="schedule",
                    subject_id=str(schedule_id),
                    customer_id=amended.customer_id,
                    correlation_id=cmd.correlation_id,
                    details={
                        "version": amended.version,
                        "changed": _changed_fields(current.definition, merged),
                        "definition": merged,
                        "replaced_operations": [str(op.id) for op in replaced],
                    },
                )
            ]
        )
        uow.outbox.add(
            [
                event_data.schedule_event(
                    events.EventType.SCHEDULE_CHANGED, amended, now, next_due_at=first.due_at
                )
            ]
        )
        result = Amended(
            stored=stored, replaced=replaced, in_flight=uow.operations.in_flight(schedule_id)
        )
        if before_commit is not None:
            before_commit(uow, result)
        uow.commit()
    return result


def _require_same_parties(current: Schedule, amended: Schedule) -> None:
    for name in ("kind", "debit_account", "credit_account"):
        if getattr(current, name) != getattr(amended, name):
            raise errors.InvalidSchedule(f"{name} cannot be changed", field=name)
    if current.amount.currency != amended.amount.currency:
        raise errors.InvalidSchedule("the currency cannot be changed", field="amount.currency")


def _first_execution(
    schedule: Schedule, latest_started: date | None, now: datetime
) -> plan.PlannedExecution:
    """The amended schedule's first execution: after now, and on a later date than any
    execution already started. (Occurrence dates strictly increase, so the search ends
    soon after `latest_started`, even for an endless rule.)"""
    for planned in plan.upcoming(schedule, after=now):
        if latest_started is None or planned.nominal_date > latest_started:
            return planned
    raise errors.InvalidSchedule(
        "the amended schedule has no execution left to run", field="start_date"
    )


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
