"""The relay orchestration against a real Kafka broker: the real orchestrator, driven by
the replay harness, and its real publish activity on a runtime whose publisher is the
product's Kafka producer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from durable import activities, names
from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.config import Settings
from tests.support import kafka_topics, outbox_events
from tests.support.clock import SettableClock
from tests.support.durable_dispatch import use_runtime
from tests.support.durable_replay import ReplayHarness
from tests.support.entry_script import indexed_functions

pytestmark = pytest.mark.integration

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def runtime(
    kafka_bootstrap: str, tmp_path: Path, isolated_settings: None
) -> Iterator[bootstrap.Runtime]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tsched.sqlite3'}",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic=kafka_topics.create_topic(kafka_bootstrap),
    )
    runtime = bootstrap.build(settings, clock=SettableClock(NOW))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def test_the_relay_publishes_the_outbox_and_continues_as_new_while_more_waits(
    runtime: bootstrap.Runtime, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = outbox_events.write_reminders(runtime.engine, 1200, occurred_at=NOW)
    use_runtime(monkeypatch, runtime)
    # One relay round of 500 events per activity, so the budget runs out with more left.
    monkeypatch.setattr(activities, "PUBLISH_SECONDS", 0.0)
    harness = ReplayHarness(indexed_functions(), SettableClock(NOW))

    generations = harness.run(names.RELAY_ORCHESTRATOR, names.RELAY_INSTANCE)

    assert [g.output for g in generations] == [
        {"published": 500, "more": True},
        {"published": 500, "more": True},
        {"published": 200, "more": False},
    ]
    messages = kafka_topics.read_topic(kafka_bootstrap, runtime.settings.kafka_topic)
    delivered = [json.loads(message.value())["id"] for message in messages]
    assert sorted(delivered) == sorted(written)
    with runtime.unit_of_work() as uow:
        assert uow.outbox.unpublished(10) == []


def test_the_relay_has_nothing_to_do_without_kafka(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_settings: None
) -> None:
    runtime = bootstrap.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'tsched.sqlite3'}"),
        clock=SettableClock(NOW),
    )
    try:
        migrate.upgrade(runtime.engine)
        outbox_events.write_reminders(runtime.engine, 3, occurred_at=NOW)
        use_runtime(monkeypatch, runtime)

        (generation,) = ReplayHarness(indexed_functions(), SettableClock(NOW)).run(
            names.RELAY_ORCHESTRATOR, names.RELAY_INSTANCE
        )
    finally:
        runtime.close()

    # The events stay in the outbox, readable with `tsched events`.
    assert generation.output == {"published": 0, "more": False}
    with runtime.unit_of_work() as uow:
        assert len(uow.outbox.unpublished(10)) == 3
