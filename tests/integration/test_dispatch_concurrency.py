"""Several dispatcher processes on one PostgreSQL store (DESIGN.md §4): started
together they execute every due transfer exactly once; SIGKILLed at random moments and
replaced, they still lose nothing and pay nothing twice, because expired leases are
claimed again and the ledger answers a repeated idempotency key with its first booking.

Each worker is a real process running the product's loop (`tests.support.dispatch_worker`:
`scheduler.bootstrap.build` + `scheduler.runner.serve`), half of them recording in
`batch` mode and half in `per_operation` mode. The store is seeded by `bench.workload`
through the product's `create_schedule`, and `bench.workload.reconcile` reads back what
happened.

On a two-core machine both tests take about a minute (20,000 and 10,000 transfers; the
seeding alone some 8 s); `TSCHED_DISPATCH_TEST_SCALE` multiplies both sizes (0.3 for a
quick run, 2 for a longer one).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import workload
from scheduler.adapters.sql import migrate, tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.service.execute_claimed import TransactionMode
from tests.services import postgres
from tests.support import dispatch_worker, reconciliation

pytestmark = pytest.mark.integration

_SCALE = float(os.environ.get("TSCHED_DISPATCH_TEST_SCALE", "1"))
CONCURRENT_TRANSFERS = round(20_000 * _SCALE)
CRASH_TRANSFERS = round(10_000 * _SCALE)
WORKERS = 4
#: Seconds a group of workers may run before the test fails instead of hanging.
DEADLINE = 120.0 * _SCALE
#: Kill rounds of the crash test, and its random seed (the moments and the victims).
KILL_ROUNDS = 6
KILL_SEED = 20261129
CRASH_LEASE_SECONDS = 2
#: How long a kill round waits for a worker caught between booking and recording.
VICTIM_SEARCH_SECONDS = 3.0
RECOVERY_ROUNDS = 4


class WorkerPool:
    """The worker processes of one test; each new one gets the next name and
    alternates between the two recording modes. Kills its stragglers on `close`."""

    def __init__(
        self, database_url: str, log_dir: Path, *, lease_seconds: int, batch_size: int
    ) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self.started: list[dispatch_worker.WorkerProcess] = []
        self.killed: list[dispatch_worker.WorkerProcess] = []

    def start(self, count: int) -> list[dispatch_worker.WorkerProcess]:
        modes = list(TransactionMode)
        new = [
            dispatch_worker.spawn(
                self.database_url,
                name=f"worker-{len(self.started) + i:02d}",
                log_dir=self.log_dir,
                lease_seconds=self.lease_seconds,
                batch_size=self.batch_size,
                mode=modes[(len(self.started) + i) % len(modes)],
            )
            for i in range(count)
        ]
        self.started += new
        return new

    def live(self) -> list[dispatch_worker.WorkerProcess]:
        return [worker for worker in self.started if worker.running()]

    def kill(self, worker: dispatch_worker.WorkerProcess) -> None:
        worker.kill()
        self.killed.append(worker)

    def wait(self) -> None:
        """Wait for every running worker to stop on its own (idle); fail past DEADLINE."""
        deadline = time.monotonic() + DEADLINE
        for worker in self.started:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{worker.name} still running after {DEADLINE} s\n{self.outputs()}")

    def assert_clean_exits(self) -> None:
        """Every worker not killed by the test stopped by itself with status 0."""
        failed = [
            worker
            for worker in self.started
            if worker not in self.killed and worker.popen.returncode != 0
        ]
        assert not failed, self.outputs(failed)

    def outputs(self, workers: list[dispatch_worker.WorkerProcess] | None = None) -> str:
        return "\n".join(worker.output() for worker in workers or self.started)

    def close(self) -> None:
        for worker in self.live():
            worker.kill()


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A new database of this test's own, migrated to the newest schema, then dropped."""
    with postgres.scratch_database(postgres_url, "tsched_dispatch") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_pool(database_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerPool]]:
    """Makes this test's worker pools; kills whatever still runs when the test ends."""
    pools: list[WorkerPool] = []

    def make(*, lease_seconds: int, batch_size: int) -> WorkerPool:
        pools.append(
            WorkerPool(database_url, tmp_path, lease_seconds=lease_seconds, batch_size=batch_size)
        )
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def _seed(engine: sa.Engine, transfers: int) -> workload.Seeded:
    """`transfers` due one-time transfers over two currencies, every one fundable."""
    return workload.seed(
        engine,
        workload.Workload(
            transfers=transfers,
            due_at=datetime.now(UTC) - timedelta(seconds=1),
            debit_accounts=200,
            credit_accounts=5,
            currencies=("EUR", "GBP"),
        ),
        processes=2,
    )


def test_four_workers_execute_every_due_transfer_exactly_once(
    engine: sa.Engine, make_pool: Callable[..., WorkerPool]
) -> None:
    seeded = _seed(engine, CONCURRENT_TRANSFERS)
    pool = make_pool(lease_seconds=60, batch_size=250)
    pool.start(WORKERS)
    pool.wait()
    pool.assert_clean_exits()

    facts = reconciliation.assert_every_transfer_paid_once(engine, seeded)
    # No lease expired, so no operation was ever claimed twice (SKIP LOCKED held).
    assert facts.claimed_more_than_once == 0
    assert facts.max_attempts == 1
    # The work was shared: at least two workers recorded outcomes.
    assert len(facts.attempt_rows_by_worker) >= 2, facts.attempt_rows_by_worker
    assert sum(facts.attempt_rows_by_worker.values()) == CONCURRENT_TRANSFERS


def test_workers_killed_at_random_moments_lose_nothing_and_pay_nothing_twice(
    engine: sa.Engine, make_pool: Callable[..., WorkerPool]
) -> None:
    seeded = _seed(engine, CRASH_TRANSFERS)
    rng = random.Random(KILL_SEED)  # noqa: S311 - kill timing, not security
    pool = make_pool(lease_seconds=CRASH_LEASE_SECONDS, batch_size=100)
    pool.start(WORKERS)
    for round_no in range(KILL_ROUNDS):
        time.sleep(rng.uniform(0.3, 1.5))
        # Even rounds wait for the worst moment: money booked, outcome not recorded.
        victim = _victim(engine, pool, rng, booked_only=round_no % 2 == 0)
        if victim is None:
            break
        pool.kill(victim)
        pool.start(1)
    pool.wait()
    _recover(engine, pool)
    pool.assert_clean_exits()

    facts = reconciliation.assert_every_transfer_paid_once(engine, seeded)
    assert len(pool.killed) >= KILL_ROUNDS // 2, "the work ended before the kills"
    recovery = (facts.claimed_more_than_once, facts.max_attempts, facts.entries_replayed)
    # Recovery was exercised: leases of killed workers were taken over...
    assert facts.claimed_more_than_once > 0, recovery
    # ...including transfers the ledger had booked before the crash, which the new
    # owner's request (same idempotency key) found instead of booking again.
    assert facts.entries_replayed > 0, recovery


def _victim(
    engine: sa.Engine, pool: WorkerPool, rng: random.Random, *, booked_only: bool
) -> dispatch_worker.WorkerProcess | None:
    """A live worker holding leases (with `booked_only`, on operations the ledger has
    already booked), else any lease holder, else any live worker; None when none runs."""
    deadline = time.monotonic() + (VICTIM_SEARCH_SECONDS if booked_only else 0.0)
    while True:
        live = {worker.name: worker for worker in pool.live()}
        if not live:
            return None
        holders = sorted(set(_lease_holders(engine, booked_only=booked_only)) & set(live))
        if holders:
            return live[rng.choice(holders)]
        if time.monotonic() >= deadline:
            holders = sorted(set(_lease_holders(engine, booked_only=False)) & set(live))
            return live[rng.choice(holders or sorted(live))]
        time.sleep(0.02)


def _lease_holders(engine: sa.Engine, *, booked_only: bool) -> list[str]:
    """Workers holding an unexpired lease (on an operation already booked in the
    ledger, with `booked_only`)."""
    o, e = tables.operation.c, tables.ledger_entry.c
    query = (
        sa.select(o.lease_owner)
        .distinct()
        .where(o.status == "claimed", o.lease_expires_at > datetime.now(UTC))
    )
    if booked_only:
        query = query.join(
            tables.ledger_entry, e.idempotency_key == workload.uuid_text(o.id, engine.dialect)
        )
    with engine.connect() as connection:
        return [str(owner) for owner in connection.execute(query).scalars()]


def _recover(engine: sa.Engine, pool: WorkerPool) -> None:
    """Run fresh workers until idle, each group once every unfinished operation is
    claimable again (the killed workers' leases expired), until none is left."""
    o = tables.operation.c
    unfinished = sa.select(sa.func.count(), sa.func.max(o.available_at)).where(
        o.status.in_(("pending", "claimed", "retry_wait"))
    )
    for round_no in range(RECOVERY_ROUNDS + 1):
        with engine.connect() as connection:
            count, available_at = connection.execute(unfinished).one()
        if not count:
            return
        wait = (available_at - datetime.now(UTC)).total_seconds()
        if round_no == RECOVERY_ROUNDS or wait > 3 * CRASH_LEASE_SECONDS:
            break
        time.sleep(max(0.0, wait) + 0.1)
        pool.start(2)
        pool.wait()
    pytest.fail(f"{count} operations unfinished, claimable at {available_at}\n{pool.outputs()}")
