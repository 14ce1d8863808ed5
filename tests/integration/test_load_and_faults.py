"""Load and faults at once, bounded and on loopback: three `tsched serve` processes on
PostgreSQL, relaying to a real Kafka broker and paying through a core-banking system
that fails a fifth of its calls (half of those after booking: the answer is lost; a
transfer at most three times, so that retry backoff cannot outlast the run).
While the transfers fall due, dispatchers holding leases are SIGKILLed and replaced,
the broker is stopped and started again, and PostgreSQL is restarted. Then everything
is reconciled: each transfer booked once and nothing else booked, the balances exact,
every outbox event in Kafka (duplicates counted, not failed), the audit chain intact.
What the run went through (faults, the gateway's answers, duplicate deliveries, the
first attempts' lateness) is kept in `.artifacts/faults/fast.txt`.

This is the fast version that `scripts/test` runs (about a minute and a quarter).
`TSCHED_FAULT_SCALE` multiplies the transfers (docs/performance.md).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from bench import fault_harness, workload
from bench.fault_harness import Serving
from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.clocks import SystemClock
from scheduler.service.verify_audit import verify_audit
from tests.services.postgres import PostgresServer
from tests.support import kafka_topics
from tests.support.core_banking_stub import FlakyCoreBanking
from tests.support.uvicorn_server import serving

if TYPE_CHECKING:
    from tests.services.kafka import KafkaBroker

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
_SCALE = float(os.environ.get("TSCHED_FAULT_SCALE", "1"))
TRANSFERS = round(600 * _SCALE)
SERVES = 3
UNAVAILABLE_RATE = 0.2
#: Short, so that a killed dispatcher's operations are claimed again soon; the batch
#: is small enough that its gateway calls (one HTTP call each) end well inside it. A
#: lease shorter than a batch's calls gets its operations claimed again and again until
#: they are dead ("claimed too often without an outcome"): never paid twice, but not paid.
LEASE_SECONDS = 4
BATCH_SIZE = 50
#: The transfers fall due over SPREAD, starting LEAD after the dispatchers start.
LEAD = timedelta(seconds=4)
SPREAD = timedelta(seconds=8)
BROKER_DOWN_SECONDS = 8.0
DATABASE_DOWN_SECONDS = 2.0
SEED = 20261205
DEADLINE = 180.0


@pytest.fixture
def engine(own_postgres_store: sa.Engine) -> sa.Engine:
    return own_postgres_store


@pytest.fixture
def core_banking(engine: sa.Engine) -> Iterator[tuple[str, FlakyCoreBanking]]:
    stub = FlakyCoreBanking(
        Ledger(engine, SystemClock()), unavailable_rate=UNAVAILABLE_RATE, seed=SEED
    )
    with serving(stub.app()) as (host, port):
        yield f"http://{host}:{port}", stub


def test_transfers_are_paid_once_through_kills_a_broker_outage_a_database_restart_and_a_flaky_gateway(  # noqa: E501
    own_postgres_server: PostgresServer,
    engine: sa.Engine,
    core_banking: tuple[str, FlakyCoreBanking],
    kafka_broker: KafkaBroker,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)  # noqa: S311 - fault timing, not security
    bootstrap = kafka_broker.bootstrap_servers
    topic = kafka_topics.create_topic(bootstrap)
    core_banking_url, stub = core_banking
    first_due = datetime.now(UTC) + LEAD
    seeded = workload.seed(
        engine,
        workload.Workload(
            transfers=TRANSFERS,
            due_at=first_due + SPREAD,
            spread=SPREAD,
            debit_accounts=60,
            credit_accounts=4,
        ),
    )
    serves = Serving(
        {
            "PATH": os.environ.get("PATH", os.defpath),
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "LEASE_SECONDS": str(LEASE_SECONDS),
            "DISPATCH_BATCH_SIZE": str(BATCH_SIZE),
            "CORE_BANKING_URL": core_banking_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC": topic,
        },
        tmp_path,
    )
    try:
        for _ in range(SERVES):
            serves.start()
        _until(lambda: datetime.now(UTC) >= first_due, "the first transfer is due", serves)
        faults = _inject_faults(rng, engine, own_postgres_server, kafka_broker, serves)
        _until(
            lambda: fault_harness.open_operations(engine) == 0,
            "every transfer has run",
            serves,
            lambda: f"faults {dict(faults)}; operations {fault_harness.statuses(engine)}",
        )
        _until(lambda: workload.unpublished(engine) == 0, "the outbox drains", serves)
        exits = serves.stop()
    finally:
        serves.close()

    assert set(exits.values()) == {0}, serves.logs()
    facts = workload.reconcile(engine)
    assert facts.problems() == []
    assert facts.operations == {("execution", "succeeded"): TRANSFERS}
    assert facts.transfer_entries == facts.entries_matching_succeeded == TRANSFERS
    assert facts.ledger.ok, facts.ledger
    balances = {account: balance for account, (_, balance) in facts.balances.items()}
    assert {a: balances[a] for a in seeded.final_balances()} == seeded.final_balances()
    # The faults happened, and were survived rather than avoided.
    assert faults["killed"] >= 2, faults
    assert stub.answers["unavailable_after_booking"] > 0, stub.answers
    assert facts.entries_replayed > 0, "no retry found a booking the gateway had made"
    report = verify_audit(uow=SqlUnitOfWork(engine))
    assert report.ok, report
    written, delivered = fault_harness.events(engine, bootstrap, topic)
    assert set(delivered) == written
    _report(engine, faults, stub.answers, delivered)


def _inject_faults(
    rng: random.Random,
    engine: sa.Engine,
    server: PostgresServer,
    broker: KafkaBroker,
    serves: Serving,
) -> Counter[str]:
    """Kill a lease holder, stop the broker, kill another, restart PostgreSQL, start the
    broker again, kill a third: each a moment apart, while transfers fall due."""
    faults: Counter[str] = Counter()

    def kill_one() -> None:
        faults["killed_holding_leases"] += serves.kill_one(engine, rng.choice)
        faults["killed"] += 1

    time.sleep(rng.uniform(0.5, 1.5))
    kill_one()
    broker.stop()
    broker_stopped = time.monotonic()
    try:
        time.sleep(rng.uniform(1.0, 2.0))
        kill_one()
        time.sleep(rng.uniform(0.5, 1.5))
        server.stop()
        try:
            time.sleep(DATABASE_DOWN_SECONDS)
        finally:
            server.resume()
        faults["database_restarts"] += 1
        time.sleep(max(0.0, BROKER_DOWN_SECONDS - (time.monotonic() - broker_stopped)))
    finally:
        # The broker is the session's: whatever happens, the next test finds it running.
        broker.start()
    faults["broker_outages"] += 1
    time.sleep(rng.uniform(0.5, 1.5))
    kill_one()
    return faults


def _report(
    engine: sa.Engine, faults: Counter[str], answers: Counter[str], delivered: list[str]
) -> str:
    """What the run went through, in one line: the faults, the gateway's answers, the
    duplicate deliveries and the first attempts' lateness. Also kept as an artifact,
    `.artifacts/faults/fast.txt`."""
    lateness = [attempt.lateness for attempt in fault_harness.first_attempts(engine)]
    line = (
        f"{TRANSFERS} transfers, {SERVES} dispatchers; faults {dict(faults)}; "
        f"gateway answers {dict(answers)}; events {len(set(delivered))} delivered "
        f"{len(delivered)} times ({len(delivered) - len(set(delivered))} duplicates); "
        f"first-attempt lateness {fault_harness.quantiles(lateness)}"
    )
    folder = Path(os.environ.get("TSCHED_ARTIFACTS", REPO_ROOT / ".artifacts")) / "faults"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fast.txt").write_text(line + "\n", encoding="utf-8")
    return line


def _until(
    condition: Callable[[], bool],
    what: str,
    serves: Serving,
    state: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            if condition():
                return
        except sa.exc.OperationalError:
            pass  # the database is restarting
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}; {state()}\n{serves.logs()}")
        time.sleep(0.2)
