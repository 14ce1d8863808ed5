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


def write_dead_operations(engine: sa.Engine, count: int, *, occurred_at: datetime) -> list[Event]:
    """Add `count` "operation dead" events, as `execute_claimed` writes them when an
    operation's retries run out, in one transaction; returns them in outbox order."""
    events = [
        Event(
            event_id=uuid.uuid4(),
            type=EventType.OPERATION_DEAD,
            schedule_id=uuid.uuid4(),
            customer_id=f"customer-{number % 7}",
            occurred_at=occurred_at,
            data={
                "operation_id": str(uuid.uuid4()),
                "status": "dead",
                "attempt": 5,
                "amount": {"value": "125.00", "currency": "EUR"},
                "debit_account": "****0042",
                "credit_account": "****0777",
                "error_code": "gateway_unavailable",
                "reason": "the gateway did not answer after 5 attempts",
                "recommended_action": "re-drive once the gateway answers",
            },
        )
        for number in range(count)
    ]
    with engine.begin() as connection:
        outbox.SqlOutboxRepository(connection).add(events)
    return events
