"""A schedule as the API and the command queue's outcomes show it: its definition as
sent, its state, and its next planned executions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from scheduler.api import schemas
from scheduler.bootstrap import Runtime
from scheduler.domain import plan
from scheduler.domain.schedule import LIVE_STATUSES
from scheduler.ports import StoredSchedule

#: Planned executions a schedule's representation lists.
NEXT_EXECUTIONS = 3


def schedule_body(
    runtime: Runtime, stored: StoredSchedule, in_flight: list[UUID] | None = None
) -> dict[str, Any]:
    """`schedule_out` as JSON."""
    return schedule_out(runtime, stored, in_flight).model_dump(mode="json")


def schedule_out(
    runtime: Runtime, stored: StoredSchedule, in_flight: list[UUID] | None = None
) -> schemas.ScheduleOut:
    """The schedule, with the operations `in_flight` (started on terms a change did not
    alter) and its next executions after now when it is live."""
    schedule = stored.schedule
    upcoming = []
    if schedule.status in LIVE_STATUSES:
        # The occurrence materialised last is the first that may still run: an amended
        # schedule skips the dates of its series that precede it (already paid).
        first = schedule.first_index if stored.next_index is None else stored.next_index - 1
        upcoming = plan.preview(
            schedule, NEXT_EXECUTIONS, after=runtime.clock.now(), from_index=first
        )
    return schemas.ScheduleOut(
        id=schedule.id,
        customer_id=schedule.customer_id,
        status=schedule.status.value,
        version=schedule.version,
        channel=stored.channel,
        created_at=schedule.created_at,
        schedule=stored.definition,
        next_executions=[schemas.PlannedExecutionOut.of(planned) for planned in upcoming],
        in_flight_operations=in_flight or [],
    )
