"""The clock the service layer reads."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Where the time comes from (an accelerated clock in demos, a settable one in tests)."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...
