"""The Azure dispatch on a real PostgreSQL store: the timer starter, the orchestrators
and the activities of the indexed app, driven by the replay harness, with each
episode's execute activities running in parallel threads on their own connections (as
on several Functions instances), so the leases and the claim's SKIP LOCKED are real."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from scheduler import bootstrap
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
    assert first.activity_calls["execute_chunk"] == 10


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
