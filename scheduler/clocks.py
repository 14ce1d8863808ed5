"""Clocks: the real one, and one that runs faster for demonstrations."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    """The `Clock` port on the machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class AcceleratedClock:
    """A `Clock` that starts at `start` and runs `factor` times faster than real time,
    so a demonstration sees a month of schedules in minutes. Monotonic: it never runs
    backwards when the machine's clock is adjusted."""

    def __init__(self, start: datetime, factor: float) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if factor <= 0:
            raise ValueError("factor must be positive")
        self._start = start.astimezone(UTC)
        self._factor = factor
        self._origin = time.monotonic()

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._origin
        return self._start + timedelta(seconds=elapsed * self._factor)

    def real_seconds(self, simulated: timedelta) -> float:
        """How long `simulated` time takes on this clock, in real seconds."""
        return simulated.total_seconds() / self._factor


class SteppingClock:
    """A `Clock` a simulation moves by hand: time stands still until `advance_to`,
    which never moves it backwards."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move to `moment` if it is later than now."""
        self._now = max(self._now, moment.astimezone(UTC))
