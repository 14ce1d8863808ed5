"""Schedules as stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from scheduler.domain.schedule import Schedule, ScheduleKind, ScheduleStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSchedule:
    """A schedule as stored: the domain object, the index of the next occurrence still
    to be materialised (None when the sequence has ended), its channel, and the
    document the channel sent (`schemas.ScheduleIn`, as JSON)."""

    schedule: Schedule
    next_index: int | None
    channel: str
    definition: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleState:
    """What changes in a schedule as it runs, without its definition."""

    status: ScheduleStatus
    version: int
    next_index: int | None


class ScheduleRepository(Protocol):
    """Schedules, kept as the JSON document the channel sent plus query columns."""

    def add(self, stored: StoredSchedule, at: datetime) -> None:
        """Insert a new schedule."""
        ...

    def get_many(self, schedule_ids: Sequence[UUID]) -> dict[UUID, StoredSchedule]:
        """The schedules with these ids that exist."""
        ...

    def page_for_customer(
        self,
        customer_id: str,
        *,
        status: ScheduleStatus | None,
        kind: ScheduleKind | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[StoredSchedule]:
        """Up to `limit` of the customer's schedules, newest first, optionally of one
        status and kind, starting after the (created_at, id) position `after`."""
        ...

    def lock(self, schedule_ids: Sequence[UUID]) -> dict[UUID, ScheduleState]:
        """The state of the schedules with these ids, locked until the transaction
        ends, so that it stays true until then."""
        ...

    def amend(self, stored: StoredSchedule, *, expected_version: int, at: datetime) -> bool:
        """Replace the schedule's terms (definition, amount, series, next index, version)
        with `stored`'s if the stored version is `expected_version`; False if another
        change came first."""
        ...

    def update_status(
        self, schedule_id: UUID, status: ScheduleStatus, *, expected_version: int, at: datetime
    ) -> bool:
        """Set `status` if the stored version is `expected_version` (bumping it); False if
        another change came first."""
        ...

    def set_next_indexes(self, next_indexes: Mapping[UUID, int | None]) -> None:
        """Set each schedule's next_index (None: nothing left to materialise). The
        caller holds the rows locked (`lock`)."""
        ...

    def complete_many(self, schedule_ids: Sequence[UUID], at: datetime) -> None:
        """Mark COMPLETED, one version later, those of the schedules that have nothing
        left to materialise and are active or paused."""
        ...
