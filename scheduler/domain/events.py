"""Events the scheduler publishes (through the outbox) as CloudEvents 1.0."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

#: Bumped when an event's data changes incompatibly; consumers read it from `dataschema`.
SCHEMA_VERSION = 1


class EventType(enum.StrEnum):
    """CloudEvents `type` values, reverse-DNS as the spec recommends."""

    SCHEDULE_CREATED = "com.tsched.schedule.created.v1"
    SCHEDULE_CHANGED = "com.tsched.schedule.changed.v1"
    SCHEDULE_PAUSED = "com.tsched.schedule.paused.v1"
    SCHEDULE_RESUMED = "com.tsched.schedule.resumed.v1"
    SCHEDULE_CANCELLED = "com.tsched.schedule.cancelled.v1"
    SCHEDULE_COMPLETED = "com.tsched.schedule.completed.v1"
    REMINDER_DUE = "com.tsched.reminder.due.v1"
    EXECUTION_SUCCEEDED = "com.tsched.execution.succeeded.v1"
    EXECUTION_FAILED = "com.tsched.execution.failed.v1"
    EXECUTION_RETRY_SCHEDULED = "com.tsched.execution.retry_scheduled.v1"
    OPERATION_DEAD = "com.tsched.operation.dead.v1"
    OPERATION_REDRIVEN = "com.tsched.operation.redriven.v1"
    OPERATION_SKIPPED = "com.tsched.operation.skipped.v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened, to be published once committed. `event_id` is stable:
    consumers de-duplicate on it. `data` holds JSON-ready values only (amounts as
    decimal strings, instants as RFC 3339 strings)."""

    event_id: UUID
    type: EventType
    schedule_id: UUID
    customer_id: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    #: The trace context it was written in (a W3C traceparent), carried to Kafka as the
    #: CloudEvent's `traceparent` extension; None when nothing traced it.
    traceparent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """An event as the outbox holds it, with the outbox's position `outbox_id`."""

    outbox_id: int
    event: Event
