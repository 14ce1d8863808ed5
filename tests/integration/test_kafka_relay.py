"""The outbox relay against a real Kafka broker: events written to the outbox reach the
topic as CloudEvents, keyed by schedule, and survive a broker outage without loss."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pytest
import sqlalchemy as sa
from confluent_kafka import Message

from scheduler.adapters import kafka
from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import outbox, tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.events import Event, EventType, StoredEvent
from scheduler.service.publish_outbox import PublishResult, publish_outbox
from tests.support import kafka_topics
from tests.support.clock import SettableClock

if TYPE_CHECKING:
    from tests.services.kafka import KafkaBroker

pytestmark = pytest.mark.integration

NOW = datetime(2027, 1, 29, 9, 0, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#: Short, so that a round against a stopped broker gives up quickly.
OUTAGE_DELIVERY_TIMEOUT_S = 2.0
#: Reconnect soon after the broker restarts instead of backing off up to 10 s.
FAST_RECONNECT = {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500}


@dataclass
class CrashBeforeMarking(SqlUnitOfWork):
    """A unit of work whose second transaction dies before committing, as a relay killed
    between Kafka's acknowledgement and the database commit would."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.entered = 0

    def __enter__(self) -> Self:
        self.entered += 1
        return super().__enter__()

    def commit(self) -> None:
        if self.entered == 2:
            raise RuntimeError("relay killed before commit")
        super().commit()


class WatchingPublisher:
    """Wraps a publisher and records how many database connections were checked out
    while the relay waited on Kafka."""

    def __init__(self, publisher: kafka.KafkaEventPublisher, engine: sa.Engine) -> None:
        self._publisher = publisher
        self._engine = engine
        self.connections_during_publish: list[int] = []

    def publish(self, events: Sequence[StoredEvent]) -> list[int]:
        pool: Any = self._engine.pool
        self.connections_during_publish.append(pool.checkedout())
        return self._publisher.publish(events)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sql_engine.create_engine(f"sqlite:///{tmp_path / 'relay.db'}")
    tables.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _events(schedule_ids: list[uuid.UUID], per_schedule: int, *, first: int = 0) -> list[Event]:
    """`per_schedule` events for each schedule, interleaved across schedules."""
    return [
        Event(
            event_id=uuid.uuid4(),
            type=EventType.REMINDER_DUE,
            schedule_id=schedule_id,
            customer_id=f"customer-{index}",
            occurred_at=NOW + timedelta(seconds=sequence),
            data={"sequence": sequence, "amount": {"value": "1250.00", "currency": "GBP"}},
        )
        for sequence in range(first, first + per_schedule)
        for index, schedule_id in enumerate(schedule_ids)
    ]


def _write(engine: sa.Engine, events: list[Event]) -> None:
    with engine.begin() as connection:
        outbox.SqlOutboxRepository(connection).add(events)


def _unpublished_ids(engine: sa.Engine) -> list[uuid.UUID]:
    with engine.begin() as connection:
        return [
            item.event.event_id
            for item in outbox.SqlOutboxRepository(connection).unpublished(10_000)
        ]


def _publish_until_empty(
    engine: sa.Engine, publisher: Any, *, batch_size: int, timeout: float = 60.0
) -> list[PublishResult]:
    """Run relay rounds until the outbox is empty (each round blocks on Kafka for at most
    its delivery timeout); fail if it is not empty by `timeout`."""
    results: list[PublishResult] = []
    deadline = time.monotonic() + timeout
    while _unpublished_ids(engine):
        assert time.monotonic() < deadline, f"outbox not empty after {timeout}s: {results}"
        results.append(
            publish_outbox(
                uow=SqlUnitOfWork(engine),
                publisher=publisher,
                clock=SettableClock(NOW),
                relay="relay-1",
                batch_size=batch_size,
            )
        )
    return results


def _by_schedule(messages: list[Message]) -> dict[str, list[str]]:
    """Event ids per message key, in topic order, duplicates removed (first kept)."""
    seen: set[str] = set()
    ids: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        event_id = json.loads(message.value())["id"]
        if event_id not in seen:
            seen.add(event_id)
            ids[message.key().decode()].append(event_id)
    return dict(ids)


def _expected_by_schedule(events: list[Event]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = defaultdict(list)
    for event in events:
        ids[str(event.schedule_id)].append(str(event.event_id))
    return dict(ids)


def test_outbox_events_reach_the_topic_as_cloudevents_keyed_by_schedule_in_order(
    kafka_bootstrap: str, engine: sa.Engine
) -> None:
    topic = kafka_topics.create_topic(kafka_bootstrap)
    schedule_ids = [uuid.uuid4() for _ in range(3)]
    # Every other event was written in a trace.
    events = [
        dataclasses.replace(event, traceparent=TRACEPARENT) if number % 2 else event
        for number, event in enumerate(_events(schedule_ids, per_schedule=5))
    ]
    _write(engine, events)

    with kafka.KafkaEventPublisher(kafka_bootstrap, topic, delivery_timeout_s=10.0) as publisher:
        watching = WatchingPublisher(publisher, engine)
        results = _publish_until_empty(engine, watching, batch_size=4)
    messages = kafka_topics.read_topic(kafka_bootstrap, topic)

    assert results == [
        PublishResult(read=4, published=4, batch_full=True),
        PublishResult(read=4, published=4, batch_full=True),
        PublishResult(read=4, published=4, batch_full=True),
        PublishResult(read=3, published=3, batch_full=False),
    ]
    assert [result.more_to_publish for result in results] == [True, True, True, False]
    assert watching.connections_during_publish == [0, 0, 0, 0]
    with engine.connect() as connection:
        published_at = connection.execute(sa.select(tables.outbox.c.published_at)).scalars().all()
    assert published_at == [NOW] * len(events)

    assert len(messages) == len(events)
    assert _by_schedule(messages) == _expected_by_schedule(events)
    by_id = {event.event_id: event for event in events}
    for message in messages:
        cloudevent = json.loads(message.value())
        event = by_id[uuid.UUID(cloudevent["id"])]
        assert message.key() == str(event.schedule_id).encode()
        assert cloudevent["specversion"] == "1.0"
        assert cloudevent["type"] == "com.tsched.reminder.due.v1"
        assert cloudevent["subject"] == str(event.schedule_id)
        assert cloudevent["data"]["customer_id"] == event.customer_id
        assert cloudevent["data"]["amount"] == {"value": "1250.00", "currency": "GBP"}
        traced = {"traceparent": TRACEPARENT.encode()} if event.traceparent else {}
        assert dict(message.headers()) == {
            "content-type": b"application/cloudevents+json; charset=utf-8",
            "ce_id": cloudevent["id"].encode(),
            "ce_type": b"com.tsched.reminder.due.v1",
            **traced,
        }
        assert cloudevent.get("traceparent") == event.traceparent
    partitions_by_key = defaultdict(set)
    for message in messages:
        partitions_by_key[message.key()].add(message.partition())
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())


def test_events_written_while_the_broker_is_down_stay_in_the_outbox_until_it_returns(
    kafka_broker: KafkaBroker, engine: sa.Engine
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = kafka_topics.create_topic(bootstrap)
    schedule_ids = [uuid.uuid4() for _ in range(2)]
    before = _events(schedule_ids, per_schedule=2)
    during = _events(schedule_ids, per_schedule=3, first=2)
    publisher = kafka.KafkaEventPublisher(
        bootstrap,
        topic,
        producer_config=FAST_RECONNECT,
        delivery_timeout_s=OUTAGE_DELIVERY_TIMEOUT_S,
    )
    try:
        _write(engine, before)
        first_round = publish_outbox(
            uow=SqlUnitOfWork(engine),
            publisher=publisher,
            clock=SettableClock(NOW),
            relay="relay-1",
        )

        kafka_broker.stop()
        try:
            _write(engine, during)
            began = time.monotonic()
            outage_round = publish_outbox(
                uow=SqlUnitOfWork(engine),
                publisher=publisher,
                clock=SettableClock(NOW),
                relay="relay-1",
            )
            outage_seconds = time.monotonic() - began
            left_during_outage = _unpublished_ids(engine)
        finally:
            if not kafka_broker.running:
                kafka_broker.start()

        recovery = _publish_until_empty(engine, publisher, batch_size=500)
    finally:
        publisher.close()
    messages = kafka_topics.read_topic(bootstrap, topic)

    assert first_round == PublishResult(read=4, published=4, batch_full=False)
    assert outage_round == PublishResult(read=6, published=0, batch_full=False)
    assert outage_seconds < OUTAGE_DELIVERY_TIMEOUT_S + kafka.REPORT_GRACE_S + 1.0
    assert left_during_outage == [event.event_id for event in during]
    # A broker just restarted may still be electing partition leaders, so the first
    # round after it can deliver part of the batch; the rest goes in the next rounds.
    assert recovery[-1].published == recovery[-1].read
    assert sum(result.published for result in recovery) == 6

    written = {str(event.event_id) for event in before + during}
    delivered = [json.loads(message.value())["id"] for message in messages]
    assert set(delivered) == written
    assert _by_schedule(messages) == _expected_by_schedule(before + during)


def test_a_relay_that_dies_before_marking_publishes_the_same_event_ids_again(
    kafka_bootstrap: str, engine: sa.Engine
) -> None:
    topic = kafka_topics.create_topic(kafka_bootstrap)
    events = _events([uuid.uuid4()], per_schedule=3)
    _write(engine, events)

    with kafka.KafkaEventPublisher(kafka_bootstrap, topic, delivery_timeout_s=10.0) as publisher:
        with pytest.raises(RuntimeError, match="killed"):
            publish_outbox(
                uow=CrashBeforeMarking(engine),
                publisher=publisher,
                clock=SettableClock(NOW),
                relay="relay-1",
            )
        still_unpublished = _unpublished_ids(engine)
        retry = publish_outbox(
            uow=SqlUnitOfWork(engine),
            publisher=publisher,
            clock=SettableClock(NOW),
            relay="relay-1",
        )
    messages = kafka_topics.read_topic(kafka_bootstrap, topic)

    ids = [str(event.event_id) for event in events]
    assert still_unpublished == [event.event_id for event in events]
    assert retry == PublishResult(read=3, published=3, batch_full=False)
    assert _unpublished_ids(engine) == []
    assert [json.loads(message.value())["id"] for message in messages] == ids + ids
    assert _by_schedule(messages) == _expected_by_schedule(events)


@pytest.mark.parametrize(
    "setting",
    [
        {"enable.idempotence": False},
        {"acks": "1"},
        {"delivery.timeout.ms": 600_000},
        {"message.timeout.ms": 600_000},
    ],
)
def test_publisher_refuses_settings_its_guarantees_rest_on(setting: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="producer_config may not set"):
        kafka.KafkaEventPublisher("127.0.0.1:9", "events", producer_config=setting)


def test_publishing_nothing_confirms_nothing_without_a_broker() -> None:
    with kafka.KafkaEventPublisher("127.0.0.1:9", "events", delivery_timeout_s=0.5) as publisher:
        assert publisher.publish([]) == []


def test_a_broker_outage_is_one_warning_an_interval_and_shows_in_the_status(
    kafka_broker: KafkaBroker, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = kafka_topics.create_topic(bootstrap)
    publisher = kafka.KafkaEventPublisher(
        bootstrap,
        topic,
        producer_config=FAST_RECONNECT,
        delivery_timeout_s=OUTAGE_DELIVERY_TIMEOUT_S,
    )
    schedule_id = uuid.uuid4()
    try:
        _write(engine, _events([schedule_id], per_schedule=1))
        publish_outbox(
            uow=SqlUnitOfWork(engine),
            publisher=publisher,
            clock=SettableClock(NOW),
            relay="relay-1",
        )
        assert publisher.status().reachable is True

        kafka_broker.stop()
        caplog.clear()
        try:
            _write(engine, _events([schedule_id], per_schedule=2, first=1))
            with caplog.at_level(logging.DEBUG, logger="scheduler.adapters.kafka"):
                for _ in range(3):
                    publish_outbox(
                        uow=SqlUnitOfWork(engine),
                        publisher=publisher,
                        clock=SettableClock(NOW),
                        relay="relay-1",
                    )
            during = publisher.status()
            outage = _kafka_records(caplog)
        finally:
            kafka_broker.start()
        caplog.clear()
        _publish_until_empty(engine, publisher, batch_size=500)
        after = publisher.status()
        recovery = _kafka_records(caplog)
    finally:
        publisher.close()

    warnings = [r.getMessage() for r in outage if r.levelno >= logging.WARNING]
    # Hundreds of reconnect failures in the outage: the first is logged, and each of the
    # three rounds says what it could not deliver. Nothing at ERROR.
    assert len(warnings) == 4, warnings
    assert "(more within 60 s are counted, not logged)" in warnings[0]
    assert warnings[1:] == ["kafka acknowledged 0 of 2 events; the rest stay in the outbox"] * 3
    assert not [r for r in outage if r.levelno >= logging.ERROR]
    assert sum(1 for r in outage if r.levelno == logging.DEBUG) > 3
    # Back: how many were held back, once, and that the brokers answer again.
    back = [r.getMessage() for r in recovery if r.levelno >= logging.WARNING]
    assert len(back) == 2, back
    assert back[0].startswith("kafka: ")
    assert " more broker messages since, the last: " in back[0]
    assert back[1] == "kafka: the brokers answer again"
    assert during.reachable is False
    assert after.reachable is True
    assert during.since is not None
    assert after.since is not None
    assert after.since > during.since


def _kafka_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "scheduler.adapters.kafka"]
