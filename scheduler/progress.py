"""Progress of a long command on one terminal line: a count, of a total when known, and
a rate, redrawn at most five times a second, then left as the last line.

Drawn only when the stream is a terminal: in CI logs and pipes a long command stays
quiet but for its result. Used by the benchmarks' seeding and waits, the demo (the days
it has run through) and `tsched history export`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TextIO


class Progress:
    """`with Progress("seeding", total=100_000) as progress: ... progress.advance(n)`."""

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "",
        stream: TextIO | None = None,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._clock = clock
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._started = clock()
        self._drawn = float("-inf")

    def advance(self, count: int = 1) -> None:
        """Count `count` more done, redrawing the line if it is time to."""
        self.set(self.done + count)

    def set(self, done: int) -> None:
        """Say that `done` are done in all."""
        self.done = done
        now = self._clock()
        if now - self._drawn >= self._interval:
            self._drawn = now
            self._draw(now, end="")

    def line(self, now: float | None = None) -> str:
        """The line as drawn now: `label: done/total (pct) rate/s, eta s left`."""
        elapsed = max((self._clock() if now is None else now) - self._started, 1e-9)
        rate = self.done / elapsed
        unit = f" {self.unit}" if self.unit else ""
        if self.total is None:
            return f"{self.label}: {self.done:,}{unit}, {rate:,.0f}/s"
        share = self.done / self.total if self.total else 1.0
        text = f"{self.label}: {self.done:,}/{self.total:,}{unit} ({share:.0%}), {rate:,.0f}/s"
        if rate > 0 and self.done < self.total:
            text += f", {(self.total - self.done) / rate:,.0f} s left"
        return text

    def clear(self) -> None:
        """Erase the line, so that other output can be printed; the next `set` draws it
        again below that output."""
        if self._enabled:
            self._stream.write("\r\033[K")
            self._stream.flush()
        self._drawn = float("-inf")

    def close(self) -> None:
        """Draw the final line and end it."""
        self._draw(self._clock(), end="\n")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _draw(self, now: float, *, end: str) -> None:
        if self._enabled:
            # \r and erase-line: the line is redrawn in place, however long it was.
            self._stream.write(f"\r\033[K{self.line(now)}{end}")
            self._stream.flush()
