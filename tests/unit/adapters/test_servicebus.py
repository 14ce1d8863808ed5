"""The Service Bus queue sender at the SDK's boundary: the `ServiceBusMessage` each
message becomes, batches cut at the link's size limit, and a sender that failed not
used again. No Service Bus emulator runs here; the AMQP link itself only Azure shows."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from azure.identity import ManagedIdentityCredential
from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusConnectionError

from scheduler.adapters.servicebus import ServiceBusQueues, batches, to_servicebus
from scheduler.ports import QueueMessage

MESSAGE = QueueMessage(
    message_id="6f1c3a52-9f0e-4a57-8a43-0c1d2e3f4a5b",
    subject="operation.dead",
    body={"amount": {"value": "125.00", "currency": "EUR"}, "note": "Überweisung"},
    correlation_id="c-1",
    properties={"error_code": "gateway_unavailable", "attempt": 5},
)


def test_a_message_becomes_an_sdk_message_with_its_ids_subject_and_properties() -> None:
    sdk = to_servicebus(MESSAGE)

    assert json.loads(b"".join(sdk.body)) == MESSAGE.body
    assert sdk.message_id == MESSAGE.message_id
    assert sdk.subject == "operation.dead"
    assert sdk.content_type == "application/json"
    assert sdk.correlation_id == "c-1"
    assert sdk.application_properties == {"error_code": "gateway_unavailable", "attempt": 5}


def test_a_message_without_properties_or_correlation_sends_none() -> None:
    sdk = to_servicebus(QueueMessage(message_id="m", subject="s", body={}))

    assert sdk.correlation_id is None
    assert not sdk.application_properties


def _sized(count: int, size: int) -> list[ServiceBusMessage]:
    return [ServiceBusMessage(b"x" * size, message_id=str(n)) for n in range(count)]


def test_batches_are_cut_where_the_next_message_would_not_fit_and_keep_the_order() -> None:
    messages = _sized(7, 300)

    cut = list(batches(messages, lambda: ServiceBusMessageBatch(max_size_in_bytes=1000)))

    assert [len(batch) for batch in cut] == [2, 2, 2, 1]
    assert [m.message_id for batch in cut for m in batch._messages] == [str(n) for n in range(7)]


def test_a_message_larger_than_a_batch_raises() -> None:
    with pytest.raises(MessageSizeExceededError):
        list(batches(_sized(1, 3000), lambda: ServiceBusMessageBatch(max_size_in_bytes=1000)))


class _Sender:
    def __init__(self, fail: bool) -> None:
        self.fail, self.closed = fail, False
        self.sent: list[ServiceBusMessageBatch] = []

    def create_message_batch(self) -> ServiceBusMessageBatch:
        return ServiceBusMessageBatch(max_size_in_bytes=256 * 1024)

    def send_messages(self, batch: ServiceBusMessageBatch) -> None:
        if self.fail:
            raise ServiceBusConnectionError(message="link detached")
        self.sent.append(batch)

    def close(self) -> None:
        self.closed = True


class _Client:
    def __init__(self, failures: Sequence[bool]) -> None:
        self.failures = list(failures)
        self.senders: list[tuple[str, _Sender]] = []

    def get_queue_sender(self, queue_name: str) -> _Sender:
        sender = _Sender(self.failures.pop(0))
        self.senders.append((queue_name, sender))
        return sender


def _queues(client: _Client) -> ServiceBusQueues:
    queues = ServiceBusQueues("tsched.servicebus.windows.net", ManagedIdentityCredential())
    queues._client.close()
    queues._client = client  # type: ignore[assignment]
    return queues


def test_one_sender_per_queue_is_kept_between_sends() -> None:
    client = _Client([False, False])
    queues = _queues(client)

    queues.send("operations-dead", [MESSAGE])
    queues.send("operations-dead", [MESSAGE, MESSAGE])
    queues.send("schedule-command-outcomes", [MESSAGE])

    assert [name for name, _ in client.senders] == ["operations-dead", "schedule-command-outcomes"]
    assert [len(batch) for batch in client.senders[0][1].sent] == [1, 2]


def test_a_sender_that_failed_is_closed_and_the_next_send_opens_another() -> None:
    client = _Client([True, False])
    queues = _queues(client)

    with pytest.raises(ServiceBusConnectionError):
        queues.send("operations-dead", [MESSAGE])
    queues.send("operations-dead", [MESSAGE])

    (_, failed), (_, fresh) = client.senders
    assert failed.closed
    assert len(fresh.sent) == 1


def test_nothing_to_send_opens_no_sender() -> None:
    client = _Client([])
    _queues(client).send("operations-dead", [])

    assert client.senders == []
