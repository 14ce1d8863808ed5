"""Service Bus as the app meets it: trigger messages built by the Python worker's own
converter from the metadata the host sends, and a queue sender that keeps what it is
given (no Service Bus emulator runs here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.servicebus import ServiceBusMessageInConverter

from scheduler.ports import QueueMessage


def trigger_message(
    body: dict[str, Any] | bytes,
    *,
    message_id: str,
    correlation_id: str | None = None,
    delivery_count: int = 1,
    application_properties: dict[str, Any] | None = None,
) -> func.ServiceBusMessage:
    """The message a `serviceBusTrigger` function is called with for `body` (a dict is
    sent as JSON), as the worker decodes it from the host's trigger metadata."""
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    metadata = {
        "MessageId": meta.Datum(message_id, "string"),
        "DeliveryCount": meta.Datum(delivery_count, "int"),
        "ContentType": meta.Datum("application/json", "string"),
        "UserProperties": meta.Datum("{}", "json"),
        "ApplicationProperties": meta.Datum(json.dumps(application_properties or {}), "json"),
    }
    if correlation_id is not None:
        metadata["CorrelationId"] = meta.Datum(correlation_id, "string")
    message = ServiceBusMessageInConverter.decode(
        meta.Datum(payload, "bytes"), trigger_metadata=metadata
    )
    assert isinstance(message, func.ServiceBusMessage)
    return message


@dataclass
class RecordingQueues:
    """A `QueueSender` that keeps each message it is given, by queue, in order; the next
    `failures` sends raise `ConnectionError` and keep nothing, as a broker that is down."""

    sent: dict[str, list[QueueMessage]] = field(default_factory=dict)
    failures: int = 0

    def send(self, queue: str, messages: Sequence[QueueMessage]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the broker is down")
        self.sent.setdefault(queue, []).extend(messages)

    def only(self, queue: str) -> QueueMessage:
        """The one message sent to `queue`."""
        (message,) = self.sent.get(queue, [])
        return message
