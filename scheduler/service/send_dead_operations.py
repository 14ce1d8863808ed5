"""Use case: tell operations staff about each operation whose retries are exhausted, on
the `operations-dead` queue, exactly once in effect.

The "operation dead" event is in the outbox, written in the transaction that gave up
on the operation. One round reads the events not queued yet, sends one message each
with no transaction open, then marks them queued. A crash between the send and the
mark sends them again on the next round under the same message id (the event id),
which the queue's duplicate detection drops. Two senders at once do the same, so no
claim is needed; their volume is a handful a day.
"""

from __future__ import annotations

import logging
from typing import Any

from scheduler import ports
from scheduler.domain.events import Event

logger = logging.getLogger(__name__)

#: The Service Bus queue operations staff read (bicep/app/servicebus.bicep).
DEAD_OPERATIONS_QUEUE = "operations-dead"
DEFAULT_BATCH_SIZE = 100


def send_dead_operations(
    *,
    uow: ports.UnitOfWork,
    queues: ports.QueueSender,
    clock: ports.Clock,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Send up to `batch_size` dead operations not sent yet, oldest first, and mark them
    sent; returns how many. An exception from the sender propagates and nothing is
    marked: the next round sends them again."""
    with uow:
        dead = uow.outbox.dead_unqueued(batch_size)
    if not dead:
        return 0
    queues.send(DEAD_OPERATIONS_QUEUE, [dead_operation_message(stored.event) for stored in dead])
    with uow:
        uow.outbox.mark_queued([stored.outbox_id for stored in dead], clock.now())
        uow.commit()
    logger.info("sent %d dead operations to %s", len(dead), DEAD_OPERATIONS_QUEUE)
    return len(dead)


def dead_operation_message(event: Event) -> ports.QueueMessage:
    """The message about a dead operation: the event's data (what the operation moves,
    masked accounts, why it failed and the recommended action), whose it is, when it
    gave up, and the API route that re-drives it once the cause is dealt with."""
    data: dict[str, Any] = event.data
    operation_id = data["operation_id"]
    return ports.QueueMessage(
        message_id=str(event.event_id),
        subject="operation.dead",
        body={
            **data,
            "customer_id": event.customer_id,
            "dead_at": event.occurred_at.isoformat(),
            "redrive": f"/v1/operations/{operation_id}/redrive",
        },
        properties={
            "operation_id": operation_id,
            "schedule_id": str(event.schedule_id),
            "error_code": data.get("error_code") or "",
            "recommended_action": data.get("recommended_action") or "",
        },
    )
