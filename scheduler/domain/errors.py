"""Errors the domain raises, each with a stable code the API maps to RFC 9457 problems.

The class docstring is the default message, so a subclass is a few lines saying when it
happens. Ids and values the error concerns are attributes, never only text in the message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SchedulerError(Exception):
    """The scheduler could not do what was asked."""

    code: ClassVar[str] = "scheduler_error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        self.details = details
        super().__init__(self.message)


class ValidationError(SchedulerError):
    """The request is not valid."""

    code = "invalid_request"

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: Any):
        super().__init__(message, field=field, **details)
        self.field = field


class InvalidMoney(ValidationError):
    """The amount is not a valid amount of money in its currency."""

    code = "invalid_money"


class UnknownCurrency(ValidationError):
    """The currency is not an active ISO 4217 currency."""

    code = "unknown_currency"


class CurrencyMismatch(SchedulerError):
    """The amounts are in different currencies."""

    code = "currency_mismatch"


class NaiveDatetime(ValidationError):
    """A date-time without a time zone was given where an instant is needed."""

    code = "naive_datetime"


class InstantOutOfRange(ValidationError):
    """A date-time lies so near year 1 or 9999 that it has no UTC equivalent."""

    code = "instant_out_of_range"


class UnknownTimeZone(ValidationError):
    """The time zone is not a known IANA time zone."""

    code = "unknown_time_zone"


class UnknownCalendar(ValidationError):
    """The business calendar is not known."""

    code = "unknown_calendar"


class InvalidRecurrence(ValidationError):
    """The recurrence rule cannot produce a sequence of dates."""

    code = "invalid_recurrence"


class InvalidReminder(ValidationError):
    """The reminder offset is not an ISO 8601 duration of weeks, days, hours or minutes."""

    code = "invalid_reminder"


class InvalidSchedule(ValidationError):
    """The schedule is not valid."""

    code = "invalid_schedule"


class ForbiddenCharacter(ValidationError):
    """The text holds a character that is not allowed.

    A control character, a line separator, a bidirectional override or isolate, or a
    lone surrogate (`text`)."""

    code = "forbidden_character"

    def __init__(
        self, message: str | None = None, *, field: str, position: int, code_point: int
    ) -> None:
        super().__init__(message, field=field, position=position, code_point=code_point)
        #: Where the first refused character is, counted from 0, and which it is.
        self.position = position
        self.code_point = code_point


class UnreadableDefinition(SchedulerError):
    """A stored schedule definition is not a document of its version."""

    code = "unreadable_definition"


class IllegalTransition(SchedulerError):
    """The operation cannot move from its current status to the requested one."""

    code = "illegal_transition"

    def __init__(self, current: str, requested: str, *, operation_id: str | None = None):
        super().__init__(
            f"an operation in status {current} cannot become {requested}",
            current=current,
            requested=requested,
            operation_id=operation_id,
        )
        self.current = current
        self.requested = requested
        self.operation_id = operation_id


class AccountNotHeld(ValidationError):
    """The customer does not hold the account to be debited."""

    code = "account_not_held"


class ScheduleNotChangeable(SchedulerError):
    """The schedule cannot move from its current status to the requested one."""

    code = "schedule_not_changeable"

    def __init__(self, current: str, requested: str, *, schedule_id: str):
        super().__init__(
            f"a {current} schedule cannot become {requested}",
            current=current,
            requested=requested,
            schedule_id=schedule_id,
        )
        self.current = current
        self.requested = requested
        self.schedule_id = schedule_id


class UnknownSchedule(SchedulerError):
    """No schedule has this id."""

    code = "unknown_schedule"

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no schedule has id {schedule_id}", schedule_id=schedule_id)
        self.schedule_id = schedule_id


class PreconditionRequired(ValidationError):
    """This change must say which version of the schedule it is based on."""

    code = "precondition_required"


class UnknownOperation(SchedulerError):
    """No operation has this id."""

    code = "unknown_operation"

    def __init__(self, operation_id: str) -> None:
        super().__init__(f"no operation has id {operation_id}", operation_id=operation_id)
        self.operation_id = operation_id


class StaleVersion(SchedulerError):
    """The schedule changed since the version the request was based on."""

    code = "stale_version"

    def __init__(self, *, schedule_id: str, expected: int, current: int) -> None:
        super().__init__(
            f"schedule {schedule_id} is at version {current}, not {expected}",
            schedule_id=schedule_id,
            expected=expected,
            current=current,
        )
        self.schedule_id = schedule_id
        self.expected = expected
        self.current = current


class LostSealRace(SchedulerError):
    """Another sealer stored this audit block, or sealed some of its records, first."""

    code = "audit_seal_lost_race"

    def __init__(self, message: str | None = None, *, block_no: int, **details: Any) -> None:
        super().__init__(message, block_no=block_no, **details)
        self.block_no = block_no
