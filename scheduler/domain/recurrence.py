"""Recurrence rules: which nominal dates a schedule falls on.

Occurrence k (0 for the first) is computed directly, in constant time, for every
frequency, so the 500th payment of a loan needs no replay of the first 499. Nominal
dates are the dates the customer asked for; business-day adjustment happens later
(`calendar.BusinessCalendar.adjust`), so a moved payment never shifts the ones after it.

End of month: a day of month past the end of a month means that month's last day, so
"monthly on the 31st" pays on 28 or 29 February, 30 April and 31 May; -1 also means the
last day.
"""

from __future__ import annotations

import calendar as gregorian
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.domain import errors, localtime

MAX_INTERVAL = 999
LAST_DAY = -1


class Frequency(enum.StrEnum):
    """How often a schedule recurs; `Recurrence.interval` multiplies it."""

    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


_MONTHS_PER_STEP = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.YEARLY: 12}


def day_in_month(year: int, month: int, day_of_month: int) -> date:
    """Day `day_of_month` of the month, or its last day if the month is shorter or
    `day_of_month` is -1."""
    last = gregorian.monthrange(year, month)[1]
    return date(year, month, last if day_of_month == LAST_DAY else min(day_of_month, last))


@dataclass(frozen=True, slots=True, kw_only=True)
class Recurrence:
    """A rule producing nominal dates from `start` on, each executed at `time_of_day`
    in the IANA zone `time_zone`.

    `weekdays` (ISO numbers, Monday = 1) apply to WEEKLY and default to the start's
    weekday; `day_of_month` (1-31 or -1) to MONTHLY, QUARTERLY and YEARLY and defaults to
    the start's day; `month` (1-12) to YEARLY and defaults to the start's month. The first
    occurrence is the first matching date on or after `start`. The sequence ends after
    `count` occurrences or on `until` (included), whichever comes first, or never.
    """

    frequency: Frequency
    start: date
    time_of_day: time
    time_zone: str
    interval: int = 1
    weekdays: frozenset[int] = field(default=frozenset())
    day_of_month: int | None = None
    month: int | None = None
    until: date | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        localtime.zone(self.time_zone)
        if self.time_of_day.tzinfo is not None:
            raise errors.InvalidRecurrence(
                "time_of_day is a local wall-clock time; the zone is time_zone",
                field="time_of_day",
            )
        self._check_fields()
        if self.occurrence(0) is None:
            raise errors.InvalidRecurrence(
                "the recurrence ends before its first occurrence", field="until"
            )

    def _check_fields(self) -> None:
        def invalid(message: str, field_name: str) -> errors.InvalidRecurrence:
            return errors.InvalidRecurrence(message, field=field_name)

        if not 1 <= self.interval <= MAX_INTERVAL:
            raise invalid(f"interval must be between 1 and {MAX_INTERVAL}", "interval")
        if self.count is not None and self.count < 1:
            raise invalid("count must be at least 1", "count")
        if self.frequency is Frequency.ONCE and (
            self.interval != 1 or self.until is not None or self.count not in (None, 1)
        ):
            raise invalid("a one-time execution has no interval, end date or count", "frequency")
        if self.weekdays and self.frequency is not Frequency.WEEKLY:
            raise invalid("weekdays apply only to weekly recurrences", "weekdays")
        if not self.weekdays <= set(range(1, 8)):
            raise invalid("weekdays are ISO numbers from 1 (Monday) to 7 (Sunday)", "weekdays")
        if self.day_of_month is not None and (
            self.frequency not in _MONTHS_PER_STEP
            or not (1 <= self.day_of_month <= 31 or self.day_of_month == LAST_DAY)
        ):
            raise invalid(
                "day_of_month is 1-31 or -1 (last day), for monthly, quarterly and yearly",
                "day_of_month",
            )
        if self.month is not None and (
            self.frequency is not Frequency.YEARLY or not 1 <= self.month <= 12
        ):
            raise invalid("month is 1-12, for yearly recurrences", "month")

    @property
    def tz(self) -> ZoneInfo:
        """The schedule's time zone."""
        return localtime.zone(self.time_zone)

    def occurrence(self, index: int) -> date | None:
        """The nominal date of occurrence `index` (0-based), or None past the end."""
        if index < 0:
            raise ValueError("occurrence index must be non-negative")
        if self.count is not None and index >= self.count:
            return None
        try:
            day = self._unbounded_occurrence(index)
        except (OverflowError, ValueError):
            return None
        if self.until is not None and day > self.until:
            return None
        return day

    def _unbounded_occurrence(self, index: int) -> date:
        if self.frequency is Frequency.ONCE:
            if index > 0:
                raise ValueError("a one-time schedule has one occurrence")
            return self.start
        if self.frequency is Frequency.DAILY:
            return self.start + timedelta(days=index * self.interval)
        if self.frequency is Frequency.WEEKLY:
            return self._weekly(index)
        return self._monthly(index)

    def _weekly(self, index: int) -> date:
        days = sorted(self.weekdays or {self.start.isoweekday()})
        monday = self.start - timedelta(days=self.start.weekday())
        first_week = [d for d in days if d >= self.start.isoweekday()]
        if not first_week:
            # The start is past every chosen weekday of its week: the first payment is the
            # first chosen day after it, and the interval counts from that week.
            monday += timedelta(weeks=1)
            first_week = days
        if index < len(first_week):
            return monday + timedelta(days=first_week[index] - 1)
        weeks, position = divmod(index - len(first_week), len(days))
        week_start = monday + timedelta(weeks=(weeks + 1) * self.interval)
        return week_start + timedelta(days=days[position] - 1)

    def _monthly(self, index: int) -> date:
        day_of_month = self.day_of_month or self.start.day
        months = self.start.year * 12 + (self.month or self.start.month) - 1
        if day_in_month(months // 12, months % 12 + 1, day_of_month) < self.start:
            months += 12 if self.frequency is Frequency.YEARLY else 1
        months += index * _MONTHS_PER_STEP[self.frequency] * self.interval
        return day_in_month(months // 12, months % 12 + 1, day_of_month)

    def first_index_on_or_after(self, day: date) -> int | None:
        """The index of the first occurrence on or after `day`, or None if there is none.

        Occurrence dates strictly increase with the index, so an exponential then binary
        search over `occurrence` finds it in O(log n) steps.
        """
        if (first := self.occurrence(0)) is None or first >= day:
            return 0 if first is not None else None
        low, high = 0, 1
        while (found := self.occurrence(high)) is not None and found < day:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            found = self.occurrence(middle)
            if found is not None and found < day:
                low = middle
            else:
                high = middle
        return high if self.occurrence(high) is not None else None

    def dates(self, from_index: int = 0) -> Iterator[tuple[int, date]]:
        """(index, nominal date) pairs from `from_index` to the end of the sequence."""
        index = from_index
        while (day := self.occurrence(index)) is not None:
            yield index, day
            index += 1
