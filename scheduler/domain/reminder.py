"""Reminder offsets: how long before an execution the customer is reminded.

Offsets are ISO 8601 durations of weeks, days, hours and minutes ("P3D", "P1D",
"PT1H", "P1DT12H"). Months and years are refused: "one month before the 31st" has no
single meaning. The rule for computing a reminder's instant, in the schedule's zone:
weeks and days move the local date back keeping the wall-clock time (so "P1D" before a
09:00 payment is 09:00 the day before even across a DST change, resolved by the DST
rule in `localtime`), then hours and minutes subtract elapsed time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from scheduler.domain import errors, localtime

_DURATION = re.compile(
    r"P(?:(?P<weeks>[0-9]+)W)?(?:(?P<days>[0-9]+)D)?"
    r"(?:T(?:(?P<hours>[0-9]+)H)?(?:(?P<minutes>[0-9]+)M)?)?"
)

#: Reminders further ahead than this are not reminders any more.
MAX_OFFSET = timedelta(days=366)

DEFAULT_OFFSETS = ("P3D", "P1D", "PT1H")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderOffset:
    """How long before an execution a reminder is due: `days` of calendar days in the
    schedule's zone, then `elapsed` hours and minutes of real time."""

    days: int
    elapsed: timedelta

    @classmethod
    def parse(cls, text: str) -> ReminderOffset:
        """Parse an ISO 8601 duration such as "P3D" or "PT1H"."""
        match = _DURATION.fullmatch(text) if isinstance(text, str) else None
        if match is None or text in ("P", "PT") or text.endswith("T"):
            raise errors.InvalidReminder(
                f"{text!r} is not an ISO 8601 duration of weeks, days, hours or minutes "
                "such as P3D or PT1H",
                field="reminders",
            )
        parts = {name: int(value or 0) for name, value in match.groupdict().items()}
        days = parts["weeks"] * 7 + parts["days"]
        # Bounded in whole minutes first: timedelta overflows on "P9999999999D".
        minutes = (days * 24 + parts["hours"]) * 60 + parts["minutes"]
        if not 0 < minutes <= MAX_OFFSET // timedelta(minutes=1):
            raise errors.InvalidReminder(
                f"a reminder is due between 1 minute and {MAX_OFFSET.days} days before, not {text}",
                field="reminders",
            )
        return cls(days=days, elapsed=timedelta(hours=parts["hours"], minutes=parts["minutes"]))

    @property
    def nominal_length(self) -> timedelta:
        """The offset as if every day had 24 hours: for ordering and limits."""
        return timedelta(days=self.days) + self.elapsed

    def before(self, execution_local: datetime, tz: tzinfo) -> datetime:
        """The UTC instant of this reminder for an execution at `execution_local` in `tz`."""
        day = execution_local.date() - timedelta(days=self.days)
        wall = localtime.to_utc(day, execution_local.timetz(), tz)
        return wall - self.elapsed

    def isoformat(self) -> str:
        """The canonical ISO 8601 spelling, e.g. "P1DT12H"."""
        hours, rest = divmod(int(self.elapsed.total_seconds()), 3600)
        minutes = rest // 60
        time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
        return "P" + (f"{self.days}D" if self.days else "") + (f"T{time_part}" if time_part else "")

    def __str__(self) -> str:
        return self.isoformat()
