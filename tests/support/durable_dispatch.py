"""Running the Azure dispatch here: a runtime the activities take for
`bootstrap.process_runtime()`, seeded due transfers, and timer ticks that start the
orchestrations through the replay harness until nothing is left to do."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from azure.functions.timer import TimerRequest

from bench import workload
from durable import messages, names
from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.config import Settings
from scheduler.ports import PaymentGateway, TransferRequest, TransferResult
from tests.support.clock import SettableClock
from tests.support.durable_app import HarnessClient
from tests.support.durable_replay import Generation, ReplayHarness
from tests.support.entry_script import indexed_functions

#: The latest due time of the seeded transfers; the clock starts one second after.
DUE = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
#: Ticks a run may take before the test fails instead of looping.
MAX_TICKS = 50
#: The time between two timer ticks (`DISPATCH_SCHEDULE`'s default, every 5 s).
TICK = timedelta(seconds=5)


def build_runtime(
    database_url: str, *, batch_size: int = 500, chunk_size: int = 100
) -> bootstrap.Runtime:
    """A runtime on `database_url` with a settable clock just after `DUE`."""
    settings = Settings(
        database_url=database_url,
        dispatch_batch_size=batch_size,
        dispatch_chunk_size=chunk_size,
        lease_seconds=int(LEASE.total_seconds()),
    )
    return bootstrap.build(settings, clock=SettableClock(DUE + timedelta(seconds=1)))


@contextmanager
def runtimes_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., bootstrap.Runtime]]:
    """Makes runtimes on the migrated store at `database_url` (sizes as `build_runtime`
    takes them), each the one the activities take once made; closes them all after."""
    built: list[bootstrap.Runtime] = []

    def make(**sizes: int) -> bootstrap.Runtime:
        runtime = build_runtime(database_url, **sizes)
        migrate.upgrade(runtime.engine)
        use_runtime(monkeypatch, runtime)
        built.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in built:
            runtime.close()


def use_runtime(monkeypatch: pytest.MonkeyPatch, runtime: bootstrap.Runtime) -> None:
    """Make `runtime` the one every activity of this process takes."""
    monkeypatch.setattr(bootstrap, "process_runtime", lambda: runtime)


def with_gateway(runtime: bootstrap.Runtime, gateway: PaymentGateway) -> bootstrap.Runtime:
    return dataclasses.replace(runtime, gateway=gateway)


def seed(runtime: bootstrap.Runtime, transfers: int) -> workload.Seeded:
    """`transfers` fundable one-time transfers in two currencies, all due by `DUE`."""
    return workload.seed(
        runtime.engine,
        workload.Workload(
            transfers=transfers,
            due_at=DUE,
            debit_accounts=50,
            credit_accounts=5,
            currencies=("EUR", "GBP"),
        ),
    )


def clock_of(runtime: bootstrap.Runtime) -> SettableClock:
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    return clock


class Platform:
    """The Functions host for the dispatch: the indexed app, the harness as its
    Durable extension, and the timer that ticks."""

    def __init__(self, runtime: bootstrap.Runtime, *, parallel: int = 4) -> None:
        self.functions = indexed_functions()
        self.clock = clock_of(runtime)
        self.harness = ReplayHarness(self.functions, self.clock, parallel=parallel)
        self._ticks = 0
        self.client = HarnessClient(self.harness)
        starter = self.functions[names.STARTER].get_user_function()
        # The function as written, before the SDK wraps it to build the client from JSON.
        self._start = starter.client_function

    def tick(self) -> list[Generation]:
        """One timer tick (`TICK` after the one before): start the orchestrations that are
        not running and run them to their end. Returns the generations of this tick's
        dispatch run."""
        if self._ticks:
            self.clock.advance_to(self.clock.now() + TICK)
        self._ticks += 1
        before = len(self.client.runs.get(names.DISPATCH_INSTANCE, []))
        asyncio.run(self._start(TimerRequest(), self.client))
        runs = self.client.runs.get(names.DISPATCH_INSTANCE, [])
        assert len(runs) == before + 1, "the tick did not run the dispatch"
        return runs[-1]

    def run_until_idle(self) -> list[messages.DispatchSummary]:
        """Tick until a dispatch claims and seals nothing; every generation's summary."""
        summaries: list[messages.DispatchSummary] = []
        for _ in range(MAX_TICKS):
            generations = self.tick()
            summaries += [generation.output for generation in generations]
            last = generations[-1].output
            if last["claimed"] == 0 and last["sealed"] == 0:
                return summaries
        raise AssertionError(f"still busy after {MAX_TICKS} ticks: {summaries[-3:]}")


class FailsOnce:
    """A gateway whose first call fails before reaching the bank; then the real one."""

    def __init__(self, gateway: PaymentGateway) -> None:
        self.gateway = gateway
        self.failed = False
        self._lock = threading.Lock()

    def transfer_many(self, requests: list[TransferRequest]) -> list[TransferResult]:
        with self._lock:
            fail, self.failed = not self.failed, True
        if fail:
            raise ConnectionError("the gateway reset the connection")
        return self.gateway.transfer_many(requests)


class DiesAfterBooking:
    """A gateway whose first call books every transfer, then the activity's instance
    is lost for longer than the lease (the clock jumps past it) before it can record."""

    def __init__(self, gateway: PaymentGateway, clock: SettableClock) -> None:
        self.gateway = gateway
        self.clock = clock
        self.booked_then_died: list[str] = []
        self._lock = threading.Lock()

    def transfer_many(self, requests: list[TransferRequest]) -> list[TransferResult]:
        results = self.gateway.transfer_many(requests)
        with self._lock:
            die = not self.booked_then_died
            if die:
                self.booked_then_died = [request.idempotency_key for request in requests]
                self.clock.advance_to(self.clock.now() + LEASE + timedelta(seconds=1))
        if die:
            raise RuntimeError("the instance running this activity was lost")
        return results
