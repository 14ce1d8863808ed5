"""The Azure dispatch on a real PostgreSQL store: the timer starter, the orchestrators
and the activities of the indexed app, driven by the replay harness, with each
episode's execute activities running in parallel threads on their own connections (as
on several Functions instances), so the leases and the claim's SKIP LOCKED are real."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from bench import workload
from durable import names
from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.engine import create_engine
from scheduler.clocks import SystemClock
from tests.services import postgres
from tests.support import reconciliation
from tests.support.durable_dispatch import (
    DiesAfterBooking,
    Platform,
    clock_of,
    runtimes_on,
    seed,
    use_runtime,
    with_gateway,
)
from tests.support.durable_replay import ReplayHarness, worker_processes
from tests.support.entry_script import indexed_functions

pytestmark = pytest.mark.integration

MakeRuntime = Callable[..., bootstrap.Runtime]


@pytest.fixture
def make_runtime(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, isolated_settings: None
) -> Iterator[MakeRuntime]:
    """Builds this test's runtimes on a database of its own, dropped at the end."""
    with (
        postgres.scratch_database(postgres_url, "tsched_durable") as url,
        runtimes_on(url, monkeypatch) as make,
    ):
        yield make


def test_5000_due_transfers_are_paid_exactly_once_with_parallel_activities(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(batch_size=500, chunk_size=50)
    seeded = seed(runtime, 5000)
    platform = Platform(runtime, parallel=4)

    summaries = platform.run_until_idle()

    facts = reconciliation.assert_every_transfer_paid_once(runtime.engine, seeded)
    assert facts.claimed_more_than_once == 0
    assert sum(summary["claimed"] for summary in summaries) == 5000
    # The fan-out really spread each batch: ten execute activities per full batch.
    first = platform.client.runs["tsched-dispatch"][0][0]
    assert first.activity_calls["execute_chunk"] == 10 * len(first.output["batches"])


def test_an_activity_lost_after_booking_past_its_lease_does_not_pay_twice(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime(batch_size=500, chunk_size=100)
    seeded = seed(runtime, 400)
    dying = DiesAfterBooking(runtime.gateway, clock_of(runtime))
    use_runtime(monkeypatch, with_gateway(runtime, dying))
    platform = Platform(runtime, parallel=4)

    platform.run_until_idle()

    facts = reconciliation.assert_every_transfer_paid_once(runtime.engine, seeded)
    assert len(dying.booked_then_died) == 100
    assert facts.entries_replayed == 100
    assert facts.claimed_more_than_once >= 100


def test_activities_in_separate_worker_processes_pay_every_transfer_once(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, isolated_settings: None
) -> None:
    # Each worker process stands in for a Functions instance: it builds its own runtime
    # from the settings on its first activity, so a batch is claimed in one process and
    # executed in others, under the lease owner the orchestration names.
    with postgres.scratch_database(postgres_url, "tsched_durable") as url:
        for name, value in {
            "DATABASE_URL": url,
            "DISPATCH_BATCH_SIZE": "300",
            "DISPATCH_CHUNK_SIZE": "100",
        }.items():
            monkeypatch.setenv(name, value)
        engine = create_engine(url)
        try:
            migrate.upgrade(engine)
            seeded = workload.seed(
                engine,
                workload.Workload(transfers=2000, due_at=datetime.now(UTC), debit_accounts=50),
            )
            with worker_processes(2) as pool:
                harness = ReplayHarness(indexed_functions(), SystemClock(), workers=pool)
                runs = [harness.run(names.DISPATCH_ORCHESTRATOR, names.DISPATCH_INSTANCE)]
                while runs[-1][-1].output["claimed"] or runs[-1][-1].output["sealed"]:
                    runs.append(harness.run(names.DISPATCH_ORCHESTRATOR, names.DISPATCH_INSTANCE))
            facts = reconciliation.assert_every_transfer_paid_once(engine, seeded)
        finally:
            engine.dispose()
    assert facts.claimed_more_than_once == 0
    assert [g.output["batches"] for g in runs[0]] == [[0, 1, 2, 3], [4, 5, 6]]
    assert [g.output["claimed"] for g in runs[0]] == [1200, 800]
