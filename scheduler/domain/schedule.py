"""Schedules: what a customer asked the bank to pay, to whom, and when."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from scheduler.domain import errors, localtime
from scheduler.domain.calendar import BusinessCalendar, Convention
from scheduler.domain.money import Money
from scheduler.domain.recurrence import Frequency, Recurrence
from scheduler.domain.reminder import ReminderOffset

#: SEPA allows 140 characters of remittance information; we keep to it everywhere.
MAX_REFERENCE_LENGTH = 140
MAX_REMINDERS = 5


class ScheduleKind(enum.StrEnum):
    """What kind of money movement a schedule makes."""

    ONE_TIME_TRANSFER = "one_time_transfer"
    RECURRING_PAYMENT = "recurring_payment"


class Purpose(enum.StrEnum):
    """Why the customer pays; channels show it, reports group by it."""

    TRANSFER = "transfer"
    BILL = "bill"
    SUBSCRIPTION = "subscription"
    LOAN_INSTALLMENT = "loan_installment"
    SAVINGS = "savings"
    OTHER = "other"


class ScheduleStatus(enum.StrEnum):
    """Where a schedule is in its life."""

    #: Its operations run when due.
    ACTIVE = "active"
    #: The customer paused it; nothing runs until resumed.
    PAUSED = "paused"
    #: The customer cancelled it; nothing runs again.
    CANCELLED = "cancelled"
    #: Its last occurrence has run.
    COMPLETED = "completed"


_SCHEDULE_MOVES: dict[ScheduleStatus, frozenset[ScheduleStatus]] = {
    ScheduleStatus.ACTIVE: frozenset(
        {ScheduleStatus.PAUSED, ScheduleStatus.CANCELLED, ScheduleStatus.COMPLETED}
    ),
    ScheduleStatus.PAUSED: frozenset(
        {ScheduleStatus.ACTIVE, ScheduleStatus.CANCELLED, ScheduleStatus.COMPLETED}
    ),
    ScheduleStatus.CANCELLED: frozenset(),
    ScheduleStatus.COMPLETED: frozenset(),
}

#: Statuses a schedule never leaves.
FINAL_STATUSES = frozenset({ScheduleStatus.CANCELLED, ScheduleStatus.COMPLETED})
#: Statuses in which a schedule still has occurrences to come (paused ones are skipped).
LIVE_STATUSES = frozenset(ScheduleStatus) - FINAL_STATUSES


def can_change_status(current: ScheduleStatus, requested: ScheduleStatus) -> bool:
    """Whether a schedule in `current` may move to `requested`: paused and active move
    between each other, and either may end (cancelled, completed); an ended one stays."""
    return requested in _SCHEDULE_MOVES[current]


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A one-time transfer or a recurring payment from `debit_account` to
    `credit_account`, executed on the dates of `recurrence` moved to business days of
    `calendar` by `convention`, with a reminder `reminders` before each execution."""

    id: UUID
    customer_id: str
    kind: ScheduleKind
    debit_account: str
    credit_account: str
    amount: Money
    recurrence: Recurrence
    created_at: datetime
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    convention: Convention = Convention.NONE
    reminders: tuple[ReminderOffset, ...] = ()
    purpose: Purpose = Purpose.TRANSFER
    reference: str = ""
    status: ScheduleStatus = ScheduleStatus.ACTIVE
    version: int = 1
    #: The occurrence number of the recurrence's first date. 0 for a new schedule; an
    #: amendment starts a new series numbered on after every occurrence materialised so
    #: far, so occurrence numbers, and the operation ids derived from them (the payment
    #: gateway's idempotency keys), are never reused for different terms.
    first_index: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "created_at", localtime.require_aware(self.created_at, field="created_at")
        )
        self.amount.require_positive()
        if not self.customer_id:
            raise errors.InvalidSchedule("customer_id is required", field="customer_id")
        for name in ("debit_account", "credit_account"):
            if not getattr(self, name).strip():
                raise errors.InvalidSchedule(f"{name} is required", field=name)
        if self.debit_account == self.credit_account:
            raise errors.InvalidSchedule(
                "debit and credit accounts must differ", field="credit_account"
            )
        one_time = self.recurrence.frequency is Frequency.ONCE
        if one_time != (self.kind is ScheduleKind.ONE_TIME_TRANSFER):
            raise errors.InvalidSchedule(
                "a one-time transfer happens once and a recurring payment recurs",
                field="recurrence",
            )
        if len(self.reference) > MAX_REFERENCE_LENGTH:
            raise errors.InvalidSchedule(
                f"reference is at most {MAX_REFERENCE_LENGTH} characters", field="reference"
            )
        if len(set(self.reminders)) != len(self.reminders) or len(self.reminders) > MAX_REMINDERS:
            raise errors.InvalidSchedule(
                f"at most {MAX_REMINDERS} distinct reminder offsets", field="reminders"
            )
        ordered = tuple(sorted(self.reminders, key=lambda r: r.nominal_length, reverse=True))
        object.__setattr__(self, "reminders", ordered)

    def with_status(self, status: ScheduleStatus) -> Schedule:
        """A copy in `status`, one version later."""
        return replace(self, status=status, version=self.version + 1)
