"""The JSON shapes of schedules and their previews, as channels send and receive them.

The CLI reads the same documents (`tsched preview --file`), so what a developer tries
locally is what the HTTP API accepts. Amounts are decimal strings, never JSON numbers;
dates and times are ISO 8601 / RFC 3339. No text may hold the characters
`domain.text` refuses (controls, bidirectional overrides, ...): `PlainText`.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

# Aliased: the JSON fields `calendar` and `recurrence` would shadow the modules.
from scheduler.domain import calendar as calendars
from scheduler.domain import definition, errors, money, plan, reminder, schedule, text
from scheduler.domain import recurrence as recurrences


def _plain(value: object) -> object:
    """Refuse a string holding a character `domain.text` refuses, as a validation error
    of the field it is in, so the problem's `errors` names the field. (The store reads
    definitions back through `domain.definition`, which does not check this again: a
    schedule stored before a character was refused stays readable, and payable.)"""
    if not isinstance(value, str):
        return value
    found = text.first_forbidden(value)
    if found is not None:
        raise PydanticCustomError(errors.ForbiddenCharacter.code, str(found))
    return value


#: The `domain.text` rule as a pydantic validator. It runs before any other check of
#: the field, on the text as sent (before whitespace is stripped, say); put it last in
#: an `Annotated` whose other constraints are a string's.
PLAIN = BeforeValidator(_plain)
#: A string a caller sends: in a document, a query parameter or a header.
PlainText = Annotated[str, PLAIN]

DecimalString = Annotated[str, StringConstraints(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


class Shape(BaseModel):
    """A document the API takes or gives: no member beyond those declared, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountIn(Shape):
    """An amount as a decimal string and its ISO 4217 currency: {"value": "12.30",
    "currency": "EUR"}."""

    value: DecimalString
    currency: CurrencyCode

    def to_money(self) -> money.Money:
        """The amount as domain `Money`, checked against the currency's minor units."""
        return money.Money.of(self.value, self.currency)


class RecurrenceIn(Shape):
    """How a recurring payment repeats after its `start_date`."""

    frequency: Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
    interval: int = Field(default=1, ge=1, le=recurrences.MAX_INTERVAL)
    weekdays: list[Weekday] = Field(default_factory=list, max_length=7)
    day_of_month: int | None = Field(default=None, ge=-1, le=31)
    month: int | None = Field(default=None, ge=1, le=12)
    until: date | None = None
    count: int | None = Field(default=None, ge=1)


class BusinessDaysIn(Shape):
    """Which days count as business days and what happens to a date that is not one."""

    calendar: PlainText | None = Field(default=None, max_length=16)
    convention: calendars.Convention = calendars.Convention.FOLLOWING


class ScheduleIn(Shape):
    """A schedule as a channel submits it.

    A one-time transfer runs once on `start_date` at `time_of_day`; a recurring payment
    runs from `start_date` as `recurrence` says. Times are wall-clock times in
    `time_zone` (IANA). `reminders` are ISO 8601 durations before each execution;
    omitted means P3D, P1D and PT1H, an empty list means none.
    """

    kind: schedule.ScheduleKind
    debit_account: PlainText = Field(min_length=1, max_length=34)
    credit_account: PlainText = Field(min_length=1, max_length=34)
    amount: AmountIn
    start_date: date
    time_of_day: time
    time_zone: PlainText = Field(min_length=1, max_length=64)
    recurrence: RecurrenceIn | None = None
    business_days: BusinessDaysIn = Field(default_factory=BusinessDaysIn)
    reminders: list[PlainText] = Field(
        default_factory=lambda: list(reminder.DEFAULT_OFFSETS), max_length=schedule.MAX_REMINDERS
    )
    purpose: schedule.Purpose = schedule.Purpose.TRANSFER
    reference: PlainText = Field(default="", max_length=schedule.MAX_REFERENCE_LENGTH)

    def to_schedule(
        self, *, schedule_id: UUID, customer_id: str, created_at: datetime
    ) -> schedule.Schedule:
        """The domain schedule, read from this document as the store reads it back:
        `model_dump` is a definition of the current version (`domain.definition`)."""
        return definition.to_schedule(
            self.model_dump(mode="json"),
            schedule_id=schedule_id,
            customer_id=customer_id,
            created_at=created_at,
        )


class ScheduleChangeIn(Shape):
    """An amendment: each field given replaces the schedule's own, whole (a new
    `recurrence` replaces the old rule, not merged into it); fields left out stay. The
    accounts, the kind and the currency cannot change."""

    amount: AmountIn | None = None
    start_date: date | None = None
    time_of_day: time | None = None
    time_zone: PlainText | None = Field(default=None, min_length=1, max_length=64)
    recurrence: RecurrenceIn | None = None
    business_days: BusinessDaysIn | None = None
    reminders: list[PlainText] | None = Field(default=None, max_length=schedule.MAX_REMINDERS)
    reference: PlainText | None = Field(default=None, max_length=schedule.MAX_REFERENCE_LENGTH)


class PlannedReminderOut(Shape):
    """A reminder of a planned execution."""

    offset: str
    due_at_utc: datetime
    due_at_local: datetime


class PlannedExecutionOut(Shape):
    """One planned execution: the date asked for, the business day it runs on, and when."""

    index: int
    nominal_date: date
    execution_date: date
    holiday: str | None
    execute_at_utc: datetime
    execute_at_local: datetime
    dst_resolution: str
    reminders: list[PlannedReminderOut]

    @classmethod
    def of(cls, planned: plan.PlannedExecution) -> PlannedExecutionOut:
        """The JSON shape of a domain plan."""
        tz = planned.execute_at.local.tzinfo
        return cls(
            index=planned.index,
            nominal_date=planned.nominal_date,
            execution_date=planned.execution_date,
            holiday=planned.holiday,
            execute_at_utc=planned.execute_at.utc,
            execute_at_local=planned.execute_at.local,
            dst_resolution=planned.execute_at.resolution.value,
            reminders=[
                PlannedReminderOut(
                    offset=item.offset.isoformat(),
                    due_at_utc=item.due_at,
                    due_at_local=item.due_at.astimezone(tz),
                )
                for item in planned.reminders
            ],
        )


class ScheduleOut(Shape):
    """A stored schedule: its state, the document it was created from, its next
    executions and, after a pause or cancel, the operations already in flight."""

    id: UUID
    customer_id: str
    status: str
    version: int
    channel: str
    created_at: datetime
    schedule: dict[str, Any]
    next_executions: list[PlannedExecutionOut]
    in_flight_operations: list[UUID] = []


class SchedulePage(Shape):
    """A page of schedules, newest first; `next_cursor` fetches the next, if any."""

    items: list[ScheduleOut]
    next_cursor: str | None


class HistoryEntryOut(Shape):
    """One attempt at an operation: when, what became of it, and, if it did not
    succeed, why and what to do. Account numbers show their last four characters."""

    id: int
    operation_id: UUID
    schedule_id: UUID
    kind: str
    attempt: int
    status: str
    due_at: datetime
    started_at: datetime
    finished_at: datetime
    amount: AmountIn
    debit_account: str
    credit_account: str
    error_code: str | None
    reason: str | None
    recommended_action: str | None
    gateway_reference: str | None


class HistoryPage(Shape):
    """A page of the history, latest first; `next_cursor` fetches the next, if any."""

    items: list[HistoryEntryOut]
    next_cursor: str | None
