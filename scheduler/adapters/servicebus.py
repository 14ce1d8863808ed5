"""The `QueueSender` on Azure Service Bus, logged in with the app's Entra ID identity
(the namespace has local, key-based auth turned off: bicep/app/servicebus.bicep).

One client and one sender per queue for the process, opened on first use: a sender holds
an AMQP link, which is slow to open and cheap to keep. The SDK's senders are not safe to
share between threads, and Functions runs invocations on several, so sends go one at a
time under a lock; the volume (a handful of dead operations a day, one outcome per
command) makes that free. A send that fails closes its sender, and the next send opens
a new one, so a link the broker dropped is not reused.

No Service Bus emulator runs on this machine: `to_servicebus` is checked against the
SDK's own message objects, the rest only in Azure (README, Service Bus).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageBatch,
    ServiceBusSender,
)
from azure.servicebus.exceptions import MessageSizeExceededError

from scheduler import ports

if TYPE_CHECKING:
    from uuid import UUID

    from azure.core.credentials import TokenCredential

    #: What an application property of a Service Bus message may hold.
    PropertyValue = int | float | bytes | bool | str | UUID


class ServiceBusQueues:
    """Sends to the queues of one namespace (`<name>.servicebus.windows.net`)."""

    def __init__(self, namespace: str, credential: TokenCredential) -> None:
        self._client = ServiceBusClient(fully_qualified_namespace=namespace, credential=credential)
        self._senders: dict[str, ServiceBusSender] = {}
        self._lock = threading.Lock()

    def send(self, queue: str, messages: Sequence[ports.QueueMessage]) -> None:
        """Send `messages` in as few batches as fit, all of them or raise."""
        if not messages:
            return
        with self._lock:
            sender = self._sender(queue)
            try:
                sdk_messages = (to_servicebus(message) for message in messages)
                for batch in batches(sdk_messages, sender.create_message_batch):
                    sender.send_messages(batch)
            except BaseException:
                del self._senders[queue]
                sender.close()
                raise

    def close(self) -> None:
        with self._lock:
            for sender in self._senders.values():
                sender.close()
            self._senders.clear()
            self._client.close()

    def _sender(self, queue: str) -> ServiceBusSender:
        if queue not in self._senders:
            self._senders[queue] = self._client.get_queue_sender(queue_name=queue)
        return self._senders[queue]


def to_servicebus(message: ports.QueueMessage) -> ServiceBusMessage:
    """The SDK message of `message`: its body as UTF-8 JSON, its ids, subject and
    properties as Service Bus carries them."""
    properties: dict[str | bytes, PropertyValue] = dict(message.properties.items())
    return ServiceBusMessage(
        json.dumps(message.body, ensure_ascii=False, separators=(",", ":")).encode(),
        message_id=message.message_id,
        subject=message.subject,
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        application_properties=properties or None,
    )


def batches(
    messages: Iterable[ServiceBusMessage], new_batch: Callable[[], ServiceBusMessageBatch]
) -> Iterator[ServiceBusMessageBatch]:
    """`messages` in order, in batches from `new_batch`, each filled until the next
    message would pass its size limit; a message too large for a batch of its own raises
    `MessageSizeExceededError`."""
    batch = new_batch()
    for message in messages:
        try:
            batch.add_message(message)
        except MessageSizeExceededError:
            if not len(batch):
                raise
            yield batch
            batch = new_batch()
            batch.add_message(message)
    if len(batch):
        yield batch
