"""Schedule commands on real PostgreSQL: one message delivered to several instances at
once (its lock expired while the first still worked) creates one schedule and every
delivery gets the same outcome; with the database stopped a delivery raises and changes
nothing, and once it is back the redelivery is carried out, once. The cluster is the
test's own, since it is stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler import bootstrap
from scheduler.adapters.sql import migrate, tables
from scheduler.api import commands
from scheduler.config import Settings
from scheduler.domain.money import Money
from tests.services.postgres import APP_DATABASE, PostgresServer
from tests.support import api
from tests.support.clock import SettableClock
from tests.support.schedules import one_time_transfer

pytestmark = pytest.mark.integration

DELIVERIES = 8
COMMAND = json.dumps(
    {
        "command": "create",
        "customer_id": "alice",
        "sender": "core-banking",
        "schedule": one_time_transfer("2027-02-01", "25.00"),
    }
).encode()


@pytest.fixture
def server(own_postgres_server: PostgresServer) -> PostgresServer:
    return own_postgres_server


@pytest.fixture
def runtime(server: PostgresServer) -> Iterator[bootstrap.Runtime]:
    settings = Settings(database_url=server.url_for(APP_DATABASE))
    runtime = bootstrap.build(settings, clock=SettableClock(api.NOW), worker="commands-test")
    migrate.upgrade(runtime.engine)
    assert runtime.ledger is not None
    runtime.ledger.open_account(
        "GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("500.00", "GBP")
    )
    runtime.ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    yield runtime
    runtime.close()


def _carry_out(runtime: bootstrap.Runtime, message_id: str) -> commands.Outcome:
    return commands.carry_out(
        runtime, message_id=message_id, body=COMMAND, correlation_id=None, sleep=lambda _: None
    )


def _schedules(runtime: bootstrap.Runtime) -> list[Any]:
    with runtime.engine.connect() as connection:
        return list(connection.execute(sa.select(tables.schedule.c.id)))


def test_one_message_delivered_to_many_instances_at_once_creates_one_schedule(
    runtime: bootstrap.Runtime,
) -> None:
    with ThreadPoolExecutor(DELIVERIES) as pool:
        outcomes = list(pool.map(lambda _: _carry_out(runtime, "m-1"), range(DELIVERIES)))

    (schedule_id,) = (row.id for row in _schedules(runtime))
    assert all(outcome.accepted for outcome in outcomes)
    assert {outcome.body["schedule"]["id"] for outcome in outcomes} == {str(schedule_id)}
    assert sum(not outcome.replayed for outcome in outcomes) == 1


def test_with_the_database_stopped_a_command_raises_and_its_redelivery_runs_once(
    runtime: bootstrap.Runtime, server: PostgresServer
) -> None:
    runtime.engine.dispose()
    server.stop()
    try:
        with pytest.raises(sa.exc.OperationalError):
            _carry_out(runtime, "m-outage")
    finally:
        server.resume()

    first = _carry_out(runtime, "m-outage")
    again = _carry_out(runtime, "m-outage")

    assert first.accepted
    assert not first.replayed
    assert again.replayed
    assert again.body == first.body
    assert len(_schedules(runtime)) == 1
