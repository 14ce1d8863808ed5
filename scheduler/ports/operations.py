"""Operations as stored, and their claims."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from scheduler.domain.operation import Operation, OperationStatus, Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class Occurrences:
    """A schedule's occurrences so far: the highest occurrence number materialised (None
    before any), and the latest nominal date whose execution has started, that is, was
    attempted, is in flight, or was skipped (None before any)."""

    highest_index: int | None
    latest_started: date | None


class OperationRepository(Protocol):
    """Operations: the materialised executions and reminders."""

    def add(self, operations: Sequence[Operation], at: datetime) -> None:
        """Insert new PENDING operations (their occurrence keys are unique)."""
        ...

    def claim_due(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> list[Operation]:
        """Lease up to `limit` due operations to `worker` (see statements.claim_due_operations)."""
        ...

    def leased(
        self, operation_ids: Sequence[UUID], *, worker: str, now: datetime
    ) -> list[Operation]:
        """The operations among `operation_ids` still CLAIMED by `worker` under a lease
        that has not expired at `now`, oldest due first. Reads without locking: the
        outcome is recorded only if the lease still holds then (`record_many`)."""
        ...

    def record_many(self, outcomes: Sequence[Outcome], *, worker: str) -> set[UUID]:
        """Store each outcome whose operation `worker` still holds under the same claim;
        return their ids. The others' leases were lost: another worker owns them now."""
        ...

    def cancel_open(self, schedule_id: UUID, at: datetime) -> list[Operation]:
        """Cancel the schedule's PENDING and RETRY_WAIT operations; return them."""
        ...

    def cancel_not_started(self, schedule_id: UUID, at: datetime) -> list[Operation]:
        """Cancel the schedule's PENDING operations that were never attempted; return
        them. Retries and re-driven operations are left to finish."""
        ...

    def occurrences_so_far(self, schedule_id: UUID) -> Occurrences:
        """What the schedule's operations say about the occurrences it has had."""
        ...

    def next_due_at(self) -> datetime | None:
        """When the earliest claimable operation comes due (or its lease expires)."""
        ...

    def in_flight(self, schedule_id: UUID) -> list[Operation]:
        """The schedule's CLAIMED operations: a worker may be executing them now."""
        ...

    def unfinished_executions(self, schedule_ids: Sequence[UUID]) -> set[UUID]:
        """Those of the schedules with an execution PENDING, CLAIMED or RETRY_WAIT."""
        ...

    def get(self, operation_id: UUID) -> Operation | None:
        """The operation with this id, if any, unlocked."""
        ...

    def lock(self, operation_id: UUID) -> Operation | None:
        """The operation with this id, if any, locked until the transaction ends."""
        ...

    def redrive(self, operation_id: UUID, at: datetime) -> None:
        """Make the operation PENDING and claimable at `at`: lease cleared, business
        declines reset, attempts kept. The caller holds the row locked (`lock`) and has
        checked the transition."""
        ...

    def page_by_status(
        self,
        *,
        statuses: Sequence[OperationStatus],
        customer_id: str | None,
        schedule_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[tuple[Operation, datetime]]:
        """Up to `limit` operations of any customer in one of `statuses`, each with when
        it last changed, latest first, optionally of one customer and schedule, starting
        after the (updated_at, id) position `after`."""
        ...
