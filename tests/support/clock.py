"""A clock tests set by hand: time moves only when a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime


class SettableClock:
    """The `Clock` port, reading whatever instant the test last set."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance_to(self, moment: datetime) -> None:
        """Move the clock to `moment`."""
        self.current = moment


def january(day: int, hour: int = 9, minute: int = 0, second: int = 1) -> datetime:
    """An instant in January 2027 (UTC); by default one second after 09:00."""
    return datetime(2027, 1, day, hour, minute, second, tzinfo=UTC)
