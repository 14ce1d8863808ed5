"""Topics of the test Kafka broker: one of its own per test, and reading one back whole."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic


def create_topic(bootstrap: str, partitions: int = 3) -> str:
    """A new topic of its own for one test, with `partitions` partitions."""
    topic = f"tsched-events-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    ).values()
    future.result(timeout=30)
    return topic


def read_topic(bootstrap: str, topic: str, *, timeout: float = 30.0) -> list[Message]:
    """Every message on `topic`, up to each partition's high watermark as it is now."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        ends: dict[int, int] = {}
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10, cached=False
            )
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        next_offset = dict.fromkeys(ends, 0)
        received: list[Message] = []
        deadline = time.monotonic() + timeout
        while any(next_offset[p] < ends[p] for p in ends):
            assert time.monotonic() < deadline, f"read {len(received)} messages in {timeout}s"
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append(message)
            partition, offset = message.partition(), message.offset()
            assert partition is not None
            assert offset is not None
            next_offset[partition] = offset + 1
    finally:
        consumer.close()
    return received
