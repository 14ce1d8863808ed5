"""Filling the outbox directly, for relay tests that need events and no schedules."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from scheduler.adapters.sql import outbox
from scheduler.domain.events import Event, EventType


def write_reminders(engine: sa.Engine, count: int, *, occurred_at: datetime) -> set[str]:
    """Add `count` reminder events, each of a schedule of its own, in one transaction;
    returns their event ids as text (as a CloudEvent's `id`)."""
    events = [
        Event(
            event_id=uuid.uuid4(),
            type=EventType.REMINDER_DUE,
            schedule_id=uuid.uuid4(),
            customer_id=f"customer-{number % 50}",
            occurred_at=occurred_at,
            data={"sequence": number},
        )
        for number in range(count)
    ]
    with engine.begin() as connection:
        outbox.SqlOutboxRepository(connection).add(events)
    return {str(event.event_id) for event in events}
