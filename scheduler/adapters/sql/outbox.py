"""The transactional outbox in SQL: events are inserted in the transaction that caused
them and read back, oldest first, by the relay that publishes them.

A row keeps in columns what queries and the Kafka key need (`event_id`, `event_type`,
`schedule_id`, `occurred_at`) and the rest of the event in `payload`, readable JSON:

    {"schema_version": 1, "customer_id": "customer-7", "data": {"amount": "1250.00"},
     "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

`traceparent` (`scheduler.tracing`) is there only when the event was written in a trace.

`schema_version` is the events' `SCHEMA_VERSION` at the time of writing, so a later
release can still read rows an earlier one wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scheduler.adapters.sql import bulk, statements, tables
from scheduler.domain.events import SCHEMA_VERSION, Event, EventType, StoredEvent
from scheduler.ports import OutboxBacklog


def select_unpublished(limit: int) -> sa.Select[Any]:
    """Up to `limit` unpublished rows, oldest (lowest id) first: a range scan of the
    partial index `ix_outbox_unpublished`, whose predicate the WHERE clause repeats
    word for word so every planner picks it. Reads without locking rows: the relay
    publishes outside any transaction, and a row published twice is acceptable. The
    relay itself claims rows (`SqlOutboxRepository.claim`); this read is for looking."""
    outbox = tables.outbox
    return (
        _select_events().where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(limit)
    )


def _select_events() -> sa.Select[Any]:
    outbox = tables.outbox
    return sa.select(
        outbox.c.id,
        outbox.c.event_id,
        outbox.c.event_type,
        outbox.c.schedule_id,
        outbox.c.occurred_at,
        outbox.c.payload,
    )


def mark_published(outbox_ids: Sequence[int], at: datetime) -> sa.Update:
    """Set `published_at` on the rows `outbox_ids` that are still unpublished (a row
    another relay marked first keeps its time). Locks those rows until commit."""
    outbox = tables.outbox
    return (
        sa.update(outbox)
        .where(outbox.c.id.in_(outbox_ids), outbox.c.published_at.is_(None))
        .values(published_at=at)
    )


def _row(event: Event) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "customer_id": event.customer_id,
        "data": event.data,
    }
    if event.traceparent is not None:
        payload["traceparent"] = event.traceparent
    return {
        "event_id": event.event_id,
        "event_type": event.type.value,
        "schedule_id": event.schedule_id,
        "occurred_at": event.occurred_at,
        "payload": payload,
    }


def _stored(row: sa.Row[Any]) -> StoredEvent:
    payload: dict[str, Any] = row.payload
    return StoredEvent(
        outbox_id=row.id,
        event=Event(
            event_id=row.event_id,
            type=EventType(row.event_type),
            schedule_id=row.schedule_id,
            customer_id=payload["customer_id"],
            occurred_at=row.occurred_at,
            data=payload["data"],
            traceparent=payload.get("traceparent"),
        ),
    )


class SqlOutboxRepository:
    """`OutboxRepository` over one connection (the unit of work's transaction).

    Events round-trip exactly, with `occurred_at` returned in UTC (the same instant).
    `data` must be JSON-ready, as `Event` requires: a `Decimal` or a `datetime`
    in it makes `add` raise instead of being stored in some other form.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def add(self, events: Sequence[Event]) -> None:
        """Store `events`, in order: their outbox ids increase in the order given."""
        if not events:
            return
        bulk.insert_rows(self._connection, tables.outbox, [_row(event) for event in events])

    def unpublished(self, limit: int) -> list[StoredEvent]:
        """Up to `limit` (>= 1) unpublished events, oldest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        rows = self._connection.execute(select_unpublished(limit))
        return [_stored(row) for row in rows]

    def after(
        self, outbox_id: int, limit: int, *, unpublished_only: bool = False
    ) -> list[StoredEvent]:
        outbox = tables.outbox
        query = _select_events().where(outbox.c.id > outbox_id)
        if unpublished_only:
            query = query.where(outbox.c.published_at.is_(None))
        rows = self._connection.execute(query.order_by(outbox.c.id).limit(limit))
        return [_stored(row) for row in rows]

    def claim(self, *, limit: int, relay: str, now: datetime, until: datetime) -> list[StoredEvent]:
        """See `statements.claim_outbox` for what it takes and locks."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        rows = self._connection.execute(
            statements.claim_outbox(self._connection.dialect.name),
            {"limit": limit, "relay": relay, "now": now, "until": until},
        )
        return sorted((_stored(row) for row in rows), key=lambda stored: stored.outbox_id)

    def backlog(self, at_most: int) -> OutboxBacklog:
        outbox = tables.outbox
        waiting = outbox.c.published_at.is_(None)
        # Both read the partial index ix_outbox_unpublished: the count stops at at_most,
        # and the oldest is its first entry (ids grow with time).
        bounded = sa.select(outbox.c.id).where(waiting).limit(at_most).subquery()
        count = self._connection.execute(sa.select(sa.func.count()).select_from(bounded))
        oldest = self._connection.execute(
            sa.select(outbox.c.occurred_at).where(waiting).order_by(outbox.c.id).limit(1)
        ).scalar_one_or_none()
        return OutboxBacklog(
            unpublished=int(count.scalar_one()), counted_up_to=at_most, oldest_at=oldest
        )

    def release(self, outbox_ids: Sequence[int], relay: str) -> None:
        outbox = tables.outbox
        for chunk in statements.in_list_chunks(outbox_ids):
            self._connection.execute(
                sa.update(outbox)
                .where(
                    outbox.c.id.in_(chunk),
                    outbox.c.relay_owner == relay,
                    outbox.c.published_at.is_(None),
                )
                .values(relay_owner=None, relay_until=None)
            )

    def mark_published(self, outbox_ids: Sequence[int], at: datetime) -> None:
        """Record that the events `outbox_ids` were delivered at `at`; ids already
        marked keep their first time, unknown ids are ignored."""
        for chunk in statements.in_list_chunks(outbox_ids):
            self._connection.execute(mark_published(chunk, at))

    def dead_unqueued(self, limit: int) -> list[StoredEvent]:
        """Read through `ix_outbox_dead_unqueued`, whose predicate the WHERE clause
        repeats word for word so every planner picks it."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        query = _select_events().where(sa.text(tables.DEAD_UNQUEUED)).order_by(tables.outbox.c.id)
        rows = self._connection.execute(query.limit(limit))
        return [_stored(row) for row in rows]

    def mark_queued(self, outbox_ids: Sequence[int], at: datetime) -> None:
        """Ids already marked keep their first time; unknown ids are ignored."""
        outbox = tables.outbox
        for chunk in statements.in_list_chunks(outbox_ids):
            self._connection.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(chunk), outbox.c.queued_at.is_(None))
                .values(queued_at=at)
            )
