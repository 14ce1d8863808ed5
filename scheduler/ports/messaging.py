"""The bank's brokers: the event bus the outbox is relayed to, and the queues of its
message broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from scheduler.domain.events import StoredEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerStatus:
    """Whether the event bus's brokers could be reached when last tried (None: not tried
    yet in this process), and since when that has been so."""

    reachable: bool | None
    since: datetime | None


@runtime_checkable
class ReportsBrokerStatus(Protocol):
    """An `EventPublisher` that can tell whether its brokers answer."""

    def status(self) -> BrokerStatus:
        """Whether the brokers could be reached, as last seen, and since when."""
        ...


class EventPublisher(Protocol):
    """Delivers events to the event bus (Kafka)."""

    def publish(self, events: Sequence[StoredEvent]) -> list[int]:
        """Publish `events` and return the outbox ids whose delivery the bus confirmed.
        Events not confirmed stay unpublished and are sent again later, with the same
        event id, so consumers de-duplicate."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMessage:
    """A message for a queue of the bank's message broker (Service Bus): a JSON `body`,
    a `message_id` the queue de-duplicates on, what it is about (`subject`), the
    message it answers (`correlation_id`) and a few `properties` a consumer may filter
    on without reading the body."""

    message_id: str
    subject: str
    body: dict[str, Any]
    content_type: str = "application/json"
    correlation_id: str | None = None
    properties: dict[str, str | int] = field(default_factory=dict)


class QueueSender(Protocol):
    """Sends messages to the queues of the bank's message broker."""

    def send(self, queue: str, messages: Sequence[QueueMessage]) -> None:
        """Send `messages` to `queue`, all of them or raise. A message sent again with
        the same `message_id` is dropped by the queue's duplicate detection."""
        ...
