"""Local wall-clock times in IANA zones, and the rule that turns them into instants.

The written rule, applied everywhere a local date and time become an instant:

* A local time that does not exist (the clocks jump over it when daylight saving time
  starts) moves forward by the length of the gap: 01:30 on the day London jumps from
  01:00 to 02:00 becomes 02:30 BST; 02:15 on the day Lord Howe Island jumps from 02:00
  to 02:30 becomes 02:45.
* A local time that happens twice (the clocks go back) means the first of the two
  instants, the one still on daylight saving time.

Python's `zoneinfo` does exactly this for ``fold=0``: it reads a local time with the
offset in force before the transition. `resolve` states the rule and reports which
case applied, so a preview can tell the customer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.domain import errors


class Resolution(enum.StrEnum):
    """How a local date and time became an instant."""

    #: The local time exists exactly once.
    EXACT = "exact"
    #: The local time fell in a DST gap and moved forward by the gap.
    SHIFTED_FORWARD = "shifted_forward"
    #: The local time happened twice; the first instant was taken.
    FIRST_OF_TWO = "first_of_two"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedTime:
    """An instant in UTC, the same instant in its zone, and how it was resolved."""

    utc: datetime
    local: datetime
    resolution: Resolution


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone called `name`, e.g. "Europe/London"."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise errors.UnknownTimeZone(
            f"{name!r} is not a known IANA time zone", field="time_zone", time_zone=name
        ) from None


def resolve(day: date, at: time, tz: tzinfo) -> ResolvedTime:
    """The instant of local `day` at `at` in zone `tz`, by the module's DST rule."""
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=tz)
    utc = wall.astimezone(UTC)
    local = utc.astimezone(tz)
    if local.replace(tzinfo=None) != wall.replace(tzinfo=None):
        resolution = Resolution.SHIFTED_FORWARD
    elif wall.replace(fold=1).utcoffset() != wall.utcoffset():
        resolution = Resolution.FIRST_OF_TWO
    else:
        resolution = Resolution.EXACT
    return ResolvedTime(utc=utc, local=local, resolution=resolution)


def to_utc(day: date, at: time, tz: tzinfo) -> datetime:
    """Shorthand for ``resolve(day, at, tz).utc``."""
    return resolve(day, at, tz).utc


def require_aware(moment: datetime, *, field: str = "datetime") -> datetime:
    """Return `moment` converted to UTC; refuse a naive datetime, and one so near the
    ends of the calendar (0001-01-01T00:00+00:01, say) that UTC has no such instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise errors.NaiveDatetime(f"{field} must carry a time zone offset", field=field)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise errors.InstantOutOfRange(
            f"{field} has no UTC equivalent: it is out of range", field=field
        ) from None
