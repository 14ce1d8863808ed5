"""The Azure dispatch path beside `tsched serve`, on the same backlog in one run.

Both sides start from a fresh PostgreSQL store holding the same backlog of due one-time
transfers (seeded by `bench.workload` through the product's own use case) and execute
it with the embedded ledger as payment gateway, synchronous commit on:

- serve: `--workers` processes of `tsched serve` (as `bench.dispatch` runs them);
- durable: the real dispatch orchestrator driven by the replay harness standing in for
  the Durable extension (tests/support/durable_replay.py: the Functions host cannot run
  here), with its real activities in `--workers` processes, each building its runtime
  from the settings as a Functions instance does. The orchestrator's replays run in this
  process, like the extension's; the task hub's own storage latency (Azure Storage
  queues and tables) is not modelled, so this is the code's ceiling, not Azure's.

Throughput is the executions recorded over the span from the first attempt's start to
the last one's end, read from the execution history, for both. For the durable side it
also prints the orchestration history of one full generation (`WINDOW` batches):
events, bytes, episodes, the orchestrator's own replay time, and the activities' times.
Both runs end with a full reconciliation.

    python -m bench.durable                          # 20,000 transfers, 2 workers, 3 runs each
    python -m bench.durable --backlog 5000 --workers 4 --repeat 1

Both sides run alternately `--repeat` times and the medians are compared: on a small
machine one run of either side varies by a third from the next.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import dispatch, workload
from durable import names
from scheduler.clocks import SystemClock
from scheduler.service.execute_claimed import TransactionMode
from tests.services.postgres import APP_DATABASE, PostgresServer
from tests.support.durable_replay import Generation, ReplayHarness, worker_processes
from tests.support.entry_script import indexed_functions


@dataclass(frozen=True, slots=True, kw_only=True)
class DurableRun:
    executed: int
    seconds: float
    generations: list[Generation]
    batch_size: int

    @property
    def rate(self) -> float:
        return self.executed / self.seconds

    def lines(self) -> list[str]:
        full = [g for g in self.generations if g.continued]
        sample = full or self.generations
        return [
            f"durable    {self.executed:>7,} executed in {self.seconds:6.2f} s = "
            f"{self.rate:7,.0f} transfers/s over {len(self.generations)} generations",
            f"history of one generation ({sample[0].output['claimed']} claimed, "
            f"{sample[0].activity_calls.get(names.EXECUTE_ACTIVITY, 0)} execute activities): "
            f"{statistics.median(len(g.history) for g in sample):.0f} events, "
            f"{statistics.median(g.history_bytes for g in sample) / 1024:.1f} KiB "
            f"(largest {max(g.history_bytes for g in sample) / 1024:.1f} KiB), "
            f"{statistics.median(g.episodes for g in sample):.0f} episodes, orchestrator "
            f"replays {statistics.median(g.replay_seconds for g in sample) * 1000:.1f} ms",
            "per generation (median): "
            + ", ".join(
                f"{name} {statistics.median(_durations(sample, name)) * 1000:.0f} ms"
                for name in (names.CLAIM_ACTIVITY, names.EXECUTE_ACTIVITY, names.SEAL_ACTIVITY)
                if _durations(sample, name)
            )
            + f"; whole generation {statistics.median(g.wall_seconds for g in sample) * 1000:.0f}"
            + " ms",
        ]


def _durations(generations: list[Generation], activity: str) -> list[float]:
    return [s for g in generations for s in g.activity_seconds.get(activity, [])]


def measure_serve(
    url: str, *, backlog: int, workers: int, batch_size: int, seconds: float
) -> dispatch.Throughput:
    """`tsched serve` on the backlog, as `bench.dispatch` measures it."""
    return dispatch.measure_throughput(
        url,
        store="postgresql",
        backlog=backlog,
        workers=workers,
        mode=TransactionMode.BATCH,
        seconds=seconds,
        batch_size=batch_size,
    )


def measure_durable(
    url: str, *, backlog: int, workers: int, batch_size: int, chunk_size: int
) -> DurableRun:
    """The dispatch orchestration, run tick after tick until a run claims nothing."""
    engine = dispatch.fresh_store(url)
    try:
        workload.seed(
            engine,
            workload.Workload(
                transfers=backlog,
                due_at=datetime.now(UTC),
                debit_accounts=1000,
                credit_accounts=200,
            ),
            processes=2,
        )
        dispatch.seal_everything(engine)
        dispatch.vacuum(engine)
        generations: list[Generation] = []
        with (
            _settings(url, batch_size=batch_size, chunk_size=chunk_size),
            worker_processes(workers) as pool,
        ):
            # Start the instances before the clock of the figure starts.
            list(pool.map(time.sleep, [0.0] * workers))
            harness = ReplayHarness(indexed_functions(), SystemClock(), workers=pool)
            while True:
                run = harness.run(names.DISPATCH_ORCHESTRATOR, names.DISPATCH_INSTANCE)
                generations += run
                if run[-1].output["claimed"] == 0:
                    break
        executed, span = dispatch.executed_span(engine)
        dispatch.require_consistent(engine)
    finally:
        engine.dispose()
    return DurableRun(
        executed=executed, seconds=span, generations=generations, batch_size=batch_size
    )


@contextmanager
def _settings(url: str, *, batch_size: int, chunk_size: int) -> Iterator[None]:
    """The settings the worker processes build their runtime from."""
    values = {
        "DATABASE_URL": url,
        "DISPATCH_BATCH_SIZE": str(batch_size),
        "DISPATCH_CHUNK_SIZE": str(chunk_size),
        "LEASE_SECONDS": "60",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    chunk_size = args.chunk_size or -(-args.batch_size // args.workers)
    serve_rates, durable_rates = [], []
    with _postgresql(args.postgresql_url) as url:
        for _ in range(args.repeat):
            serve = measure_serve(
                url,
                backlog=args.backlog,
                workers=args.workers,
                batch_size=args.batch_size,
                seconds=600,
            )
            print(serve.line(), flush=True)
            serve_rates.append(serve.executed / serve.seconds)
            durable = measure_durable(
                url,
                backlog=args.backlog,
                workers=args.workers,
                batch_size=args.batch_size,
                chunk_size=chunk_size,
            )
            for line in durable.lines():
                print(line, flush=True)
            durable_rates.append(durable.rate)
    serve_rate, durable_rate = statistics.median(serve_rates), statistics.median(durable_rates)
    print(
        f"median of {args.repeat}: serve {serve_rate:,.0f}/s, durable {durable_rate:,.0f}/s "
        f"(DISPATCH_BATCH_SIZE {args.batch_size}, DISPATCH_CHUNK_SIZE {chunk_size}); "
        f"durable / serve = {durable_rate / serve_rate:.2f}",
        flush=True,
    )
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgresql-url", help="an existing database (default: a throwaway one)")
    parser.add_argument("--backlog", type=int, default=20_000, help="due transfers waiting")
    parser.add_argument(
        "--workers", type=int, default=2, help="serve processes / activity worker processes"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="DISPATCH_BATCH_SIZE")
    parser.add_argument(
        "--chunk-size",
        type=int,
        help="DISPATCH_CHUNK_SIZE (default: the batch shared evenly by the workers)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating")
    return parser.parse_args(argv)


@contextmanager
def _postgresql(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    server = PostgresServer()
    server.start()
    try:
        yield server.url_for(APP_DATABASE)
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
