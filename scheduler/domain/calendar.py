"""Business days: weekends, public or market holidays, and the conventions that move a
payment date that is not a business day.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import holidays

from scheduler.domain import errors

#: No calendar has this many non-business days in a row; past it the calendar is broken.
_MAX_RUN_OF_CLOSED_DAYS = 31

#: Market calendars by the names bankers use for them.
_FINANCIAL_ALIASES = {"TARGET": "XECB", "TARGET2": "XECB", "ECB": "XECB", "NYSE": "XNYS"}


class Convention(enum.StrEnum):
    """What to do with a date that is not a business day (ISDA names)."""

    #: Keep the date even if the bank is closed.
    NONE = "none"
    #: Move to the next business day.
    FOLLOWING = "following"
    #: Move to the next business day unless that is in the next month; then the previous one.
    MODIFIED_FOLLOWING = "modified_following"
    #: Move to the previous business day.
    PRECEDING = "preceding"


@lru_cache(maxsize=64)
def _holidays_for(calendar_id: str) -> holidays.HolidayBase:
    market = _FINANCIAL_ALIASES.get(calendar_id, calendar_id)
    if market in holidays.list_supported_financial():
        return holidays.financial_holidays(market)
    country, _, subdivision = calendar_id.partition("-")
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        raise errors.UnknownCalendar(
            f"{calendar_id!r} is not a known calendar: use an ISO 3166 country code, "
            "optionally with a subdivision (GB-ENG, US-NY, DE-BY), or a market (TARGET, NYSE)",
            field="calendar",
            calendar=calendar_id,
        ) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessCalendar:
    """The days a bank executes payments.

    `calendar_id` names a holiday calendar: an ISO 3166 country code with an optional
    subdivision ("GB-ENG", "US-NY", "DE-BY"), or a market ("TARGET" for euro
    payments, "NYSE"); ``None`` means weekends only. `weekend` holds ISO weekday
    numbers (Monday = 1), Saturday and Sunday unless given.
    """

    calendar_id: str | None = None
    weekend: frozenset[int] = field(default=frozenset({6, 7}))

    def __post_init__(self) -> None:
        if self.calendar_id is not None:
            _holidays_for(self.calendar_id)
        if not self.weekend <= set(range(1, 8)) or len(self.weekend) == 7:
            raise errors.UnknownCalendar(
                "weekend must be a set of ISO weekdays (1-7) leaving some working days",
                field="weekend",
            )

    def holiday_name(self, day: date) -> str | None:
        """The name of the holiday on `day`, if any."""
        if self.calendar_id is None:
            return None
        name: str | None = _holidays_for(self.calendar_id).get(day)
        return name

    def is_business_day(self, day: date) -> bool:
        """Whether the bank executes payments on `day`."""
        return day.isoweekday() not in self.weekend and self.holiday_name(day) is None

    def adjust(self, day: date, convention: Convention) -> date:
        """The execution date for nominal date `day` under `convention`."""
        if convention is Convention.NONE or self.is_business_day(day):
            return day
        if convention is Convention.PRECEDING:
            return self._step_to_business_day(day, -1)
        following = self._step_to_business_day(day, +1)
        if convention is Convention.MODIFIED_FOLLOWING and following.month != day.month:
            return self._step_to_business_day(day, -1)
        return following

    def business_days(self, start: date, end: date) -> Iterable[date]:
        """The business days from `start` to `end`, both included."""
        day = start
        while day <= end:
            if self.is_business_day(day):
                yield day
            day += timedelta(days=1)

    def _step_to_business_day(self, day: date, step: int) -> date:
        for _ in range(_MAX_RUN_OF_CLOSED_DAYS):
            day += timedelta(days=step)
            if self.is_business_day(day):
                return day
        raise errors.UnknownCalendar(
            f"calendar {self.calendar_id!r} has no business day within "
            f"{_MAX_RUN_OF_CLOSED_DAYS} days of {day}",
            calendar=self.calendar_id,
        )
