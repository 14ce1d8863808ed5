"""Two relays on one PostgreSQL outbox and one real Kafka broker, side by side, as two
`tsched serve` processes run them: each claims its own events (FOR UPDATE SKIP LOCKED
plus a hold), so in normal running every event reaches the topic once. (Before the
claims, every relay read the same oldest rows and about half the events went twice.)"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from scheduler.adapters import kafka
from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.service.publish_outbox import PublishResult, publish_outbox
from tests.services import postgres
from tests.support import kafka_topics, outbox_events
from tests.support.clock import SettableClock

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
EVENTS = 3000
BATCH = 100


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    with postgres.scratch_database(postgres_url, "tsched_relays") as url:
        engine = create_engine(url)
        migrate.upgrade(engine)
        yield engine
        engine.dispose()


def _relay_until_empty(
    engine: sa.Engine, bootstrap: str, topic: str, name: str, start: threading.Barrier
) -> list[PublishResult]:
    results = []
    with kafka.KafkaEventPublisher(bootstrap, topic) as publisher:
        start.wait()
        while True:
            result = publish_outbox(
                uow=SqlUnitOfWork(engine),
                publisher=publisher,
                clock=SettableClock(NOW),
                relay=name,
                batch_size=BATCH,
            )
            results.append(result)
            if result.read == 0:
                return results


def test_two_relays_publish_each_event_once(engine: sa.Engine, kafka_bootstrap: str) -> None:
    topic = kafka_topics.create_topic(kafka_bootstrap)
    written = outbox_events.write_reminders(engine, EVENTS, occurred_at=NOW)
    start = threading.Barrier(2)
    rounds: dict[str, list[PublishResult]] = {}

    def run(name: str) -> None:
        rounds[name] = _relay_until_empty(engine, kafka_bootstrap, topic, name, start)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("relay-a", "relay-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    messages = kafka_topics.read_topic(kafka_bootstrap, topic)
    delivered = Counter(json.loads(message.value())["id"] for message in messages)
    assert set(delivered) == written
    assert max(delivered.values()) == 1
    published = {name: sum(r.published for r in results) for name, results in rounds.items()}
    assert sum(published.values()) == EVENTS
    # Both relays took part: the claims shared the work, they did not serialise it.
    assert min(published.values()) > 0, published
