"""The execution history: every attempt at every operation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from scheduler.domain.money import Money
from scheduler.domain.operation import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One attempt at an operation, as the history keeps it."""

    id: int
    operation_id: UUID
    schedule_id: UUID
    kind: str
    attempt: int
    due_at: datetime
    started_at: datetime
    finished_at: datetime
    outcome: str
    error_code: str | None
    reason: str | None
    recommended_action: str | None
    gateway_reference: str | None
    debit_account: str
    credit_account: str
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryQuery:
    """Which of a customer's attempts: finished in [finished_from, finished_before),
    amount in [amount_min, amount_max] compared exactly, and each other filter that is
    not None equal to its column."""

    customer_id: str
    schedule_id: UUID | None = None
    outcome: str | None = None
    finished_from: datetime | None = None
    finished_before: datetime | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    currency: str | None = None


class HistoryRepository(Protocol):
    """Every attempt at every operation (the execution history)."""

    def add(self, outcomes: Sequence[Outcome], *, worker: str) -> None:
        """Record `outcomes` as attempts."""
        ...

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        """Up to `limit` of the attempts `query` selects, latest first, starting after
        the (finished_at, id) position `after`."""
        ...

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        """How many attempts `query` selects, counting no further than `at_most` (so a
        count against a cap costs at most the cap)."""
        ...
