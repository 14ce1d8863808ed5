"""The Azure dispatch run as deployed, on SQLite: the timer starter, the orchestrators
and the activities of the indexed app, with the replay harness as the Durable extension
(every episode replays from the start and must answer the same actions).
tests/integration/test_durable_dispatch_postgres.py runs the same on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from durable import names
from durable.orchestrators import WINDOW
from scheduler import bootstrap
from tests.support import reconciliation
from tests.support.durable_dispatch import (
    DiesAfterBooking,
    FailsOnce,
    Platform,
    clock_of,
    runtimes_on,
    seed,
    use_runtime,
    with_gateway,
)

MakeRuntime = Callable[..., bootstrap.Runtime]


@pytest.fixture
def make_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_settings: None
) -> Iterator[MakeRuntime]:
    """Builds this test's runtimes on a fresh SQLite store."""
    with runtimes_on(f"sqlite:///{tmp_path / 'tsched.sqlite3'}", monkeypatch) as make:
        yield make


def test_5000_due_transfers_are_paid_exactly_once_by_timer_ticks(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    seeded = seed(runtime, 5000)
    platform = Platform(runtime)

    summaries = platform.run_until_idle()

    facts = reconciliation.assert_every_transfer_paid_once(runtime.engine, seeded)
    assert facts.claimed_more_than_once == 0
    assert sum(summary["claimed"] for summary in summaries) == 5000
    assert sum(summary["recorded"].get("succeeded", 0) for summary in summaries) == 5000
    assert all(summary["lost_leases"] == summary["errors"] == 0 for summary in summaries)


def test_a_run_executes_a_window_of_batches_per_generation_then_continues_as_new(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(batch_size=100, chunk_size=50)
    seed(runtime, 1000)
    platform = Platform(runtime)

    generations = platform.tick()

    assert WINDOW == 4
    assert [g.output["batches"] for g in generations] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [g.output["claimed"] for g in generations] == [400, 400, 200]
    assert [g.continued for g in generations] == [True, True, False]
    assert generations[0].input is None
    # Each generation hands the next its first batch, claimed already, and the run.
    runs = {g.continued_with["run"] for g in generations[:2]}
    assert len(runs | {g.output["run"] for g in generations}) == 1
    assert [g.continued_with["batch"] for g in generations[:2]] == [4, 8]
    assert [g.continued_with["claimed"]["claimed"] for g in generations[:2]] == [100, 100]
    # Each batch fans out in chunks of DISPATCH_CHUNK_SIZE. Each batch is claimed once:
    # the run's first by itself, each next one beside the batch before (a generation's
    # last such claim is carried into the next generation); batch 10's found nothing.
    assert [g.activity_calls[names.EXECUTE_ACTIVITY] for g in generations] == [8, 8, 4]
    assert [g.activity_calls[names.CLAIM_ACTIVITY] for g in generations] == [5, 4, 2]
    assert sum(g.output["recorded"]["succeeded"] for g in generations) == 1000


def test_each_tick_starts_a_new_run_whose_leases_have_other_owners(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(batch_size=100)
    seed(runtime, 50)
    platform = Platform(runtime)

    first = platform.tick()
    second = platform.tick()

    assert first[0].output["claimed"] == 50
    assert second[0].output["claimed"] == 0
    assert first[0].output["run"] != second[0].output["run"]


def test_a_failed_execute_activity_is_retried_and_pays_once(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime(batch_size=500, chunk_size=100)
    seeded = seed(runtime, 300)
    use_runtime(monkeypatch, with_gateway(runtime, FailsOnce(runtime.gateway)))
    platform = Platform(runtime)

    generations = platform.tick()

    # Three chunks, one of which failed once and was scheduled again by the SDK's retry.
    assert generations[0].activity_calls[names.EXECUTE_ACTIVITY] == 4
    assert generations[0].output["recorded"] == {"succeeded": 300}
    platform.run_until_idle()
    facts = reconciliation.assert_every_transfer_paid_once(runtime.engine, seeded)
    assert facts.max_attempts == 1


def test_an_activity_lost_after_booking_past_its_lease_does_not_pay_twice(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime(batch_size=500, chunk_size=100)
    seeded = seed(runtime, 300)
    dying = DiesAfterBooking(runtime.gateway, clock_of(runtime))
    use_runtime(monkeypatch, with_gateway(runtime, dying))
    platform = Platform(runtime, parallel=1)

    first = platform.tick()
    summaries = platform.run_until_idle()

    # The lost activity's retry found its leases expired and recorded nothing...
    assert first[0].output["lost_leases"] >= len(dying.booked_then_died) == 100
    # ...and the next run claimed those operations again and asked the gateway with the
    # same keys, which answered the first bookings instead of booking again.
    facts = reconciliation.assert_every_transfer_paid_once(runtime.engine, seeded)
    assert facts.entries_replayed == 100
    assert facts.max_attempts == 2
    assert sum(s["recorded"].get("succeeded", 0) for s in summaries) == 300 - sum(
        first[0].output["recorded"].values()
    )


def test_replaying_a_finished_history_answers_the_same_actions_and_output(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(batch_size=100, chunk_size=30)
    seed(runtime, 80)
    platform = Platform(runtime)
    (generation,) = platform.tick()

    replays = [
        platform.harness.replay(names.DISPATCH_ORCHESTRATOR, names.DISPATCH_INSTANCE, generation)
        for _ in range(2)
    ]

    assert replays[0] == replays[1]
    assert replays[0]["isDone"] is True
    assert replays[0]["output"] == generation.output
    assert json.dumps(replays[0]["actions"]).count(names.EXECUTE_ACTIVITY) == 3
