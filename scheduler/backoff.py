"""How long a loop waits before trying again something that keeps failing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Real seconds between attempts while something keeps failing: `first` after the
    first failure, doubling after each one in a row, never more than `last`."""

    first: float = 0.5
    last: float = 10.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (from 1)."""
        return min(self.last, self.first * float(2 ** (failures - 1)))
