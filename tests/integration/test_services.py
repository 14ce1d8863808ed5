"""The real services started by the test command do what the platform relies on."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from azure.storage.blob import BlobServiceClient
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.services import postgres

if TYPE_CHECKING:
    from tests.services import kafka

pytestmark = pytest.mark.integration

ACCOUNTS = ("account-a", "account-b", "account-c")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# PostgreSQL


def test_postgres_returns_a_numeric_amount_and_an_aware_timestamp_exactly(
    postgres_url: str,
) -> None:
    metadata = sa.MetaData()
    payments = sa.Table(
        _unique("payments").replace("-", "_"),
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", sa.Numeric(19, 4), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    )
    amount = Decimal("123456789012345.0001")
    # 01:30 in Berlin on the night clocks go forward: an instant naive code gets wrong.
    due_at = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    engine = sa.create_engine(postgres_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(sa.insert(payments).values(id=1, amount=amount, due_at=due_at))
        with engine.connect() as connection:
            row = connection.execute(sa.select(payments.c.amount, payments.c.due_at)).one()
    finally:
        metadata.drop_all(engine)
        engine.dispose()

    assert isinstance(row.amount, Decimal)
    assert str(row.amount) == "123456789012345.0001"
    assert row.due_at.tzinfo is not None
    assert row.due_at == due_at
    assert row.due_at.astimezone(UTC) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def test_postgres_cluster_has_the_application_database(
    postgres_server: postgres.PostgresServer,
) -> None:
    engine = sa.create_engine(postgres_server.url_for(postgres.APP_DATABASE))
    try:
        with engine.connect() as connection:
            name = connection.execute(sa.text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()

    assert name == postgres.APP_DATABASE


# Kafka


def _create_topic(bootstrap: str, partitions: int) -> str:
    topic = _unique("test-topic")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    ).values()
    future.result(timeout=30)
    return topic


def _idempotent_producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            # Reconnect soon after a broker restart instead of backing off up to 10 s.
            "reconnect.backoff.max.ms": 500,
        }
    )


Report = tuple[KafkaError | None, Message]


def _produce(
    producer: Producer, topic: str, messages: list[tuple[str, str]], reports: list[Report]
) -> None:
    def on_delivery(error: KafkaError | None, message: Message) -> None:
        reports.append((error, message))

    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)


def _consume(bootstrap: str, topic: str, count: int, *, timeout: float = 60.0) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": _unique("test-group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[Message] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(timeout=1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append(message)
    finally:
        consumer.close()
    return received


def _values_by_key(messages: list[Message]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        key, value = message.key(), message.value()
        assert key is not None
        assert value is not None
        by_key[key.decode()].append(value.decode())
    return dict(by_key)


def _sent(accounts: tuple[str, ...], first: int, count: int) -> list[tuple[str, str]]:
    return [
        (account, f"{account}:{sequence}")
        for sequence in range(first, first + count)
        for account in accounts
    ]


def test_kafka_delivers_keyed_messages_in_order_per_key(kafka_bootstrap: str) -> None:
    topic = _create_topic(kafka_bootstrap, partitions=3)
    messages = _sent(ACCOUNTS, 0, 20)
    producer = _idempotent_producer(kafka_bootstrap)
    reports: list[Report] = []

    _produce(producer, topic, messages, reports)
    assert producer.flush(30) == 0
    received = _consume(kafka_bootstrap, topic, len(messages))

    assert [error for error, _ in reports] == [None] * len(messages)
    assert len(received) == len(messages)
    expected: dict[str, list[str]] = defaultdict(list)
    for key, value in messages:
        expected[key].append(value)
    assert _values_by_key(received) == expected
    partitions_by_key = defaultdict(set)
    for message in received:
        partitions_by_key[message.key()].add(message.partition())
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())


def test_kafka_delivers_messages_queued_while_broker_was_down(
    kafka_broker: kafka.KafkaBroker,
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = _create_topic(bootstrap, partitions=1)
    producer = _idempotent_producer(bootstrap)
    reports: list[Report] = []
    before = _sent(("account-a",), 0, 1)
    during = _sent(("account-a",), 1, 10)
    _produce(producer, topic, before, reports)
    assert producer.flush(30) == 0

    kafka_broker.stop()
    try:
        _produce(producer, topic, during, reports)
        queued = len(producer)
    finally:
        if not kafka_broker.running:
            kafka_broker.start()
    remaining = producer.flush(60)
    received = _consume(bootstrap, topic, len(before) + len(during))

    assert queued == len(during)
    assert remaining == 0
    assert [error for error, _ in reports] == [None] * (len(before) + len(during))
    assert _values_by_key(received) == {"account-a": [value for _, value in before + during]}


# Azurite


def test_azurite_stores_a_blob_and_returns_it_byte_for_byte(
    azurite_connection_string: str,
) -> None:
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    container_name = _unique("statements")
    container = service.create_container(container_name)
    data = b"id,amount,currency\n1,12.3400,EUR\n2,0.0001,CHF\n" + bytes(range(256))
    try:
        container.upload_blob("2026/03/statement.csv", data, overwrite=False)
        downloaded = container.download_blob("2026/03/statement.csv").readall()
        blob_names = [blob.name for blob in container.list_blobs()]
        container_names = [item.name for item in service.list_containers()]
    finally:
        container.delete_container()

    assert downloaded == data
    assert blob_names == ["2026/03/statement.csv"]
    assert container_name in container_names
