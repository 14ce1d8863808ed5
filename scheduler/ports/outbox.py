"""The transactional outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scheduler.domain.events import Event, StoredEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxBacklog:
    """Events waiting to be published: how many (counted up to a bound), and when the
    oldest of them happened (None when none waits)."""

    unpublished: int
    counted_up_to: int
    oldest_at: datetime | None


class OutboxRepository(Protocol):
    """Events waiting to be published, written in the same transaction as the change."""

    def add(self, events: Sequence[Event]) -> None:
        """Store `events` for publishing once the transaction commits."""
        ...

    def unpublished(self, limit: int) -> list[StoredEvent]:
        """Up to `limit` unpublished events, oldest first."""
        ...

    def after(
        self, outbox_id: int, limit: int, *, unpublished_only: bool = False
    ) -> list[StoredEvent]:
        """Up to `limit` events with ids above `outbox_id`, oldest first."""
        ...

    def claim(self, *, limit: int, relay: str, now: datetime, until: datetime) -> list[StoredEvent]:
        """Hold up to `limit` of the oldest unpublished events for `relay` until `until`
        and return them, oldest first: events no relay holds, events whose hold ended by
        `now`, and events `relay` holds already. Another relay's claim skips them."""
        ...

    def backlog(self, at_most: int) -> OutboxBacklog:
        """How many events wait to be published, counting no further than `at_most`,
        and when the oldest happened."""
        ...

    def release(self, outbox_ids: Sequence[int], relay: str) -> None:
        """End `relay`'s hold on the unpublished events `outbox_ids`, so that any relay
        may claim them again at once."""
        ...

    def mark_published(self, outbox_ids: Sequence[int], at: datetime) -> None:
        """Record that the events with these outbox ids were delivered."""
        ...

    def dead_unqueued(self, limit: int) -> list[StoredEvent]:
        """Up to `limit` "operation dead" events not sent to their queue yet, oldest
        first (`mark_queued`), whether or not they were published to Kafka."""
        ...

    def mark_queued(self, outbox_ids: Sequence[int], at: datetime) -> None:
        """Record that the events with these outbox ids were sent to their queue."""
        ...
