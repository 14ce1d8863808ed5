"""Use case: relay committed events from the outbox to the event bus.

One round reads a batch of unpublished events in a short transaction, publishes them
with no transaction open (no database lock is held while the bus is waited on), then
marks the acknowledged ones published in a second short transaction.

A crash at any point loses nothing: before the second commit the events are still
unpublished and the next round sends them again, with the same event ids, which
consumers de-duplicate. Rounds run one at a time (the dispatcher is a singleton); two
overlapping rounds would only publish some events twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scheduler import ports

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500


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
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> PublishResult:
    """Publish up to `batch_size` unpublished events, oldest first, and mark those the
    bus acknowledged as published at `clock.now()`.

    An exception from the publisher propagates and nothing is marked; ids the publisher
    returns that were not in the batch are ignored.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    with uow:
        batch = uow.outbox.unpublished(batch_size)
        # Read only: leaving the block rolls back, which ends the transaction.
    if not batch:
        return PublishResult(read=0, published=0, batch_full=False)

    acknowledged = set(publisher.publish(batch))
    published = [stored.outbox_id for stored in batch if stored.outbox_id in acknowledged]

    if published:
        with uow:
            uow.outbox.mark_published(published, clock.now())
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
