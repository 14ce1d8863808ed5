"""Planned executions: the dates, instants and reminders a schedule produces.

`preview` is what a customer sees before saving a schedule and what the engine
materialises as operations, so both agree by construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from scheduler.domain import localtime
from scheduler.domain.reminder import ReminderOffset
from scheduler.domain.schedule import Schedule

#: The most executions one preview lists, over HTTP (`POST /v1/schedules/preview`) and in
#: `tsched preview`: a preview is built and rendered whole in memory, and uncapped the
#: CLI's `-n 100000` printed 65 MB using 1 GB. Enough for ten years of monthly payments.
MAX_PREVIEW = 120

#: Business-day conventions move a date back by less than this, so a search for
#: executions after an instant starts this far before it.
_LONGEST_BACKWARD_ADJUSTMENT = timedelta(days=31)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedReminder:
    """A reminder due `offset` before an execution, at the UTC instant `due_at`."""

    offset: ReminderOffset
    due_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedExecution:
    """Occurrence `index` of a schedule: the date asked for (`nominal_date`), the business
    day it runs on (`execution_date`), when exactly, and its reminders."""

    index: int
    nominal_date: date
    execution_date: date
    execute_at: localtime.ResolvedTime
    reminders: tuple[PlannedReminder, ...]
    holiday: str | None

    @property
    def due_at(self) -> datetime:
        """The UTC instant the execution is due."""
        return self.execute_at.utc


def occurrence_date(schedule: Schedule, index: int) -> date | None:
    """The nominal date of the schedule's occurrence number `index`, or None when the
    schedule has no such occurrence (past its end, or before its current series)."""
    position = index - schedule.first_index
    return schedule.recurrence.occurrence(position) if position >= 0 else None


def planned_execution(schedule: Schedule, index: int, nominal_date: date) -> PlannedExecution:
    """The plan for occurrence number `index`, which falls on `nominal_date`."""
    recurrence = schedule.recurrence
    tz = recurrence.tz
    execution_date = schedule.calendar.adjust(nominal_date, schedule.convention)
    execute_at = localtime.resolve(execution_date, recurrence.time_of_day, tz)
    reminders = tuple(
        PlannedReminder(offset=offset, due_at=offset.before(execute_at.local, tz))
        for offset in schedule.reminders
    )
    return PlannedExecution(
        index=index,
        nominal_date=nominal_date,
        execution_date=execution_date,
        execute_at=execute_at,
        reminders=reminders,
        holiday=schedule.calendar.holiday_name(nominal_date),
    )


def preview(
    schedule: Schedule, count: int, *, after: datetime | None = None, from_index: int = 0
) -> list[PlannedExecution]:
    """The next `count` executions of `schedule` due strictly after the instant `after`
    (from the first occurrence when None) and numbered `from_index` or more, in order."""
    planned = upcoming(schedule, after=after)
    kept = (execution for execution in planned if execution.index >= from_index)
    return list(itertools.islice(kept, max(count, 0)))


def upcoming(schedule: Schedule, *, after: datetime | None = None) -> Iterator[PlannedExecution]:
    """The executions of `schedule` due strictly after the instant `after` (from the
    first occurrence when None), in order, lazily: an endless rule never ends."""
    recurrence = schedule.recurrence
    start_position = 0
    if after is not None:
        after = localtime.require_aware(after, field="after")
        local_day = after.astimezone(recurrence.tz).date() - _LONGEST_BACKWARD_ADJUSTMENT
        found = recurrence.first_index_on_or_after(local_day)
        if found is None:
            return
        start_position = found
    for position, nominal in recurrence.dates(start_position):
        execution = planned_execution(schedule, schedule.first_index + position, nominal)
        if after is None or execution.due_at > after:
            yield execution
