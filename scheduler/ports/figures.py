"""The operations figures read from the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scheduler.domain.operation import OperationKind, OperationStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class MinuteLateness:
    """How late the first attempts at executions that started in one minute were: how
    many started, and the largest and mean lateness (start less due time), in seconds."""

    minute_start: datetime
    started: int
    max_seconds: float
    mean_seconds: float


class OperationsFigures(Protocol):
    """What the operations page, `tsched status` and the metrics show, read from the
    store in one transaction, each figure by an index."""

    def due_between(self, start: datetime, end: datetime) -> dict[OperationKind, int]:
        """How many operations waiting to run (pending, or waiting to retry) become due
        in [start, end), by kind."""
        ...

    def waiting(self, now: datetime) -> tuple[int, datetime | None]:
        """How many operations are due and not held by a worker at `now` (a lease that
        expired counts), and since when the oldest of them has been due."""
        ...

    def outcomes_between(self, since: datetime, until: datetime) -> dict[OperationStatus, int]:
        """How many attempts finished in [since, until), by outcome."""
        ...

    def lateness_per_minute(self, since: datetime, until: datetime) -> list[MinuteLateness]:
        """The lateness of first attempts at executions started in [since, until), a
        row per minute from `since` that had any, oldest first."""
        ...

    def stopped_counts(self) -> dict[OperationStatus, int]:
        """How many operations are failed, and dead, now."""
        ...
