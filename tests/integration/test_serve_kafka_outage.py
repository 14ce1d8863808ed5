"""`tsched serve` through a Kafka outage: a real dispatcher process with a real broker,
stopped while transfers fall due. The transfers are paid on time while the broker is
down and their events wait in the outbox; once the broker is back the outbox drains
and every event is in the topic. (Before the relay had a thread of its own, each pass
blocked for the delivery timeout and transfers ran 30 s and more late.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from bench import workload
from scheduler.adapters.sql import migrate, tables
from scheduler.adapters.sql.engine import create_engine
from tests.support import kafka_topics, reconciliation

if TYPE_CHECKING:
    from tests.services.kafka import KafkaBroker

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
TRANSFERS = 300
#: The transfers fall due over this span, starting this long after the broker stops.
SPREAD = timedelta(seconds=8)
LEAD = timedelta(seconds=4)
#: Far below the 30 s delivery timeout a round waits for a stopped broker: an attempt
#: this late would mean the payment waited on Kafka.
LATE = timedelta(seconds=5)
DEADLINE = 90.0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'tsched.sqlite3'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _serve(
    engine: sa.Engine, directory: Path, bootstrap: str, topic: str
) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC": topic,
    }
    argv = [sys.executable, "-m", "scheduler.cli", "serve", "--no-api", "--quiet"]
    argv += ["--idle-sleep", "0.1"]
    with (directory / "serve.log").open("wb") as log:
        return subprocess.Popen(argv, cwd=directory, env=env, stdout=log, stderr=log)


def _until(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}:\n{log.read_text()}")
        time.sleep(0.1)


def _count(engine: sa.Engine, query: sa.Select[tuple[int]]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _executed(engine: sa.Engine) -> int:
    return _count(engine, sa.select(sa.func.count()).select_from(tables.execution_attempt))


def _unpublished(engine: sa.Engine) -> int:
    o = tables.outbox.c
    return _count(engine, sa.select(sa.func.count()).where(o.published_at.is_(None)))


def _worst_lateness(engine: sa.Engine) -> timedelta:
    h, o = tables.execution_attempt.c, tables.operation.c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(h.started_at, o.due_at).join_from(
                tables.execution_attempt, tables.operation, h.operation_id == o.id
            )
        ).all()
    return max(started - due for started, due in rows)


def test_transfers_are_paid_on_time_while_the_broker_is_down_and_their_events_follow(
    kafka_broker: KafkaBroker, engine: sa.Engine, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = kafka_topics.create_topic(bootstrap)
    seeded = workload.seed(
        engine,
        workload.Workload(
            transfers=TRANSFERS,
            due_at=datetime.now(UTC) + LEAD + SPREAD,
            spread=SPREAD,
            debit_accounts=50,
        ),
    )
    process = _serve(engine, tmp_path, bootstrap, topic)
    log = tmp_path / "serve.log"
    try:
        kafka_broker.stop()
        try:
            _until(lambda: _executed(engine) == TRANSFERS, "every transfer is paid", process, log)
            late = _worst_lateness(engine)
            waiting = _unpublished(engine)
        finally:
            kafka_broker.start()
        _until(lambda: _unpublished(engine) == 0, "the outbox drains", process, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert late < LATE, late
    # Each transfer's succeeded and completed events were written while the broker was
    # down; they waited in the outbox, then every event reached the topic.
    assert waiting >= 2 * TRANSFERS
    reconciliation.assert_every_transfer_paid_once(engine, seeded)
    with engine.connect() as connection:
        written = {
            str(i) for i in connection.execute(sa.select(tables.outbox.c.event_id)).scalars()
        }
    messages = kafka_topics.read_topic(bootstrap, topic)
    assert {json.loads(message.value())["id"] for message in messages} == written
