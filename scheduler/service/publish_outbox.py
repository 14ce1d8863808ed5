"""Use case: relay committed events from the outbox to the event bus.

One round claims a batch of unpublished events for this relay in a short transaction
(another relay's round skips them: several `tsched serve` processes, or two relay
orchestrations overlapping, do not publish the same events), publishes them with no
transaction open (no database lock is held while the bus is waited on), then marks the
acknowledged ones published, and releases the others for any relay's next round, in a
second short transaction.

A crash at any point loses nothing: before the second commit the events are still
unpublished; once the claim's hold ends (`lease`) any relay sends them again, with the
same event ids, which consumers de-duplicate. Two relays may publish one schedule's
events in an order other than the outbox's; consumers that need strict order compare
the event `time`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry.trace import SpanKind

from scheduler import ports, tracing
from scheduler.domain.events import StoredEvent

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
#: How long a relay holds the events it claimed: beyond the Kafka publisher's delivery
#: timeout (30 s) and report grace, with room to spare.
DEFAULT_LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """What one round did.

    `read` events were taken from the outbox, `published` of them were acknowledged by
    the bus and marked published; the rest stay in the outbox for a later round.
    `batch_full` says the batch was full, so more events may be waiting."""

    read: int
    published: int
    batch_full: bool

    @property
    def more_to_publish(self) -> bool:
        """Whether to run another round now: the batch was full and the bus took all
        of it. After a partial failure, wait for the next tick instead of retrying at
        once against a bus that is failing."""
        return self.batch_full and self.published == self.read


def publish_outbox(
    *,
    uow: ports.UnitOfWork,
    publisher: ports.EventPublisher,
    clock: ports.Clock,
    relay: str,
    lease: timedelta = DEFAULT_LEASE,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> PublishResult:
    """Claim up to `batch_size` unpublished events, oldest first, for `relay` (a name
    unique to this relay) for `lease`, publish them, mark those the bus acknowledged as
    published at `clock.now()` and release the rest.

    `lease` must outlast a publish (the publisher's delivery timeout): a hold that ends
    first lets another relay send the same events meanwhile. An exception from the
    publisher propagates and nothing is marked (the hold ends with its lease); ids the
    publisher returns that were not in the batch are ignored.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    now = clock.now()
    with uow:
        batch = uow.outbox.claim(limit=batch_size, relay=relay, now=now, until=now + lease)
        uow.commit()
    if not batch:
        return PublishResult(read=0, published=0, batch_full=False)

    sent = clock.now()
    acknowledged = set(publisher.publish(batch))
    delivered = [stored for stored in batch if stored.outbox_id in acknowledged]
    _trace_published(delivered, sent, clock)
    published = [stored.outbox_id for stored in delivered]
    refused = [stored.outbox_id for stored in batch if stored.outbox_id not in acknowledged]

    with uow:
        uow.outbox.mark_published(published, clock.now())
        uow.outbox.release(refused, relay)
        uow.commit()
    result = PublishResult(
        read=len(batch), published=len(published), batch_full=len(batch) == batch_size
    )
    logger.info(
        "published %s of %s outbox events",
        result.published,
        result.read,
        extra={"read": result.read, "published": result.published},
    )
    return result


def _trace_published(events: list[StoredEvent], sent: datetime, clock: ports.Clock) -> None:
    """A producer span per acknowledged event, in the trace the event was written in."""
    acknowledged = clock.now()
    for stored in events:
        tracing.record_span(
            f"publish {stored.event.type.value}",
            parent=stored.event.traceparent,
            start=sent,
            end=acknowledged,
            kind=SpanKind.PRODUCER,
            attributes={"messaging.message.id": str(stored.event.event_id)},
        )
