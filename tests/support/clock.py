"""A clock tests set by hand: time moves only when a test moves it."""

from __future__ import annotations

from datetime import datetime


class SettableClock:
    """The `Clock` port, reading whatever instant the test last set."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance_to(self, moment: datetime) -> None:
        """Move the clock to `moment`."""
        self.current = moment
