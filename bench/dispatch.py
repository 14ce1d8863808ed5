"""End-to-end dispatch benchmark: how fast `tsched serve` executes due transfers, and
how late it starts them at a steady arrival rate.

Each figure comes from a fresh store seeded by `bench.workload` (one-time transfers
created through the product's own use case) and worker processes running the product's
own command, `tsched serve`, with the embedded ledger as payment gateway: claim, ledger
booking, history row, audit record and outbox event, all committed with synchronous
commit on (PostgreSQL's default, which the throwaway cluster keeps).

- throughput: a backlog of N due transfers; workers run for at most `--seconds`; the rate
  is the executions recorded divided by the span between the first attempt's start and
  the last one's end, read from the execution history (so process start-up is not
  counted). The claim's own cost is timed on the full backlog too.
- lateness: transfers falling due at `--rate` per second for `--duration` seconds, with
  workers on the real clock; lateness is each attempt's start minus the operation's due
  time, from the history.

Every run ends with `bench.workload.reconcile`: a figure from a store whose money does
not add up is not reported.

    python -m bench.dispatch                              # everything (takes minutes)
    python -m bench.dispatch --store postgresql --backlog 10000 --skip-lateness
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import workload
from scheduler.adapters.sql import migrate, statements, tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.clocks import SystemClock
from scheduler.service.execute_claimed import TransactionMode
from scheduler.service.seal_audit import seal_audit
from tests.services.postgres import APP_DATABASE, PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[1]
CLAIM_SAMPLE_BATCH = 500
_OPEN = ("pending", "claimed", "retry_wait")


@dataclass(frozen=True, slots=True, kw_only=True)
class Throughput:
    store: str
    backlog: int
    workers: int
    mode: TransactionMode
    executed: int
    seconds: float
    claim_ms: float

    def line(self) -> str:
        return (
            f"{self.store:<10} backlog {self.backlog:>9,}  {self.workers} workers  "
            f"{self.mode.value:<13} {self.executed:>7,} executed in {self.seconds:6.2f} s = "
            f"{self.executed / self.seconds:7,.0f} transfers/s   claim of {CLAIM_SAMPLE_BATCH} "
            f"on the backlog: {self.claim_ms:.1f} ms"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lateness:
    store: str
    rate: int
    workers: int
    mode: TransactionMode
    executed: int
    p50: float
    p99: float
    worst: float

    def line(self) -> str:
        return (
            f"{self.store:<10} {self.rate}/s steady  {self.workers} workers  "
            f"{self.mode.value:<13} {self.executed:>7,} executed  lateness p50 "
            f"{self.p50 * 1000:.0f} ms, p99 {self.p99 * 1000:.0f} ms, "
            f"max {self.worst * 1000:.0f} ms"
        )


def measure_throughput(
    url: str,
    *,
    store: str,
    backlog: int,
    workers: int,
    mode: TransactionMode,
    seconds: float,
    batch_size: int | None = None,
) -> Throughput:
    """Seed `backlog` due transfers, then let `workers` serve processes execute for at
    most `seconds`, claiming `batch_size` at a time (default: DISPATCH_BATCH_SIZE's)."""
    engine = fresh_store(url)
    try:
        now = datetime.now(UTC)
        workload.seed(
            engine,
            workload.Workload(
                transfers=backlog, due_at=now, debit_accounts=1000, credit_accounts=200
            ),
            processes=2,
        )
        seal_everything(engine)
        vacuum(engine)
        claim_ms = _time_claim(engine, now)
        with _serving(
            url, workers=workers, mode=mode, idle_sleep=0.5, batch_size=batch_size
        ) as processes:
            _wait_for(engine, processes, deadline=time.monotonic() + seconds)
        executed, span = executed_span(engine)
        require_consistent(engine)
    finally:
        engine.dispose()
    return Throughput(
        store=store,
        backlog=backlog,
        workers=workers,
        mode=mode,
        executed=executed,
        seconds=span,
        claim_ms=claim_ms,
    )


def measure_lateness(
    url: str, *, store: str, rate: int, duration: int, workers: int, mode: TransactionMode
) -> Lateness:
    """Seed `rate` transfers due each second for `duration` seconds, starting once
    seeding is done, and serve them on the real clock."""
    engine = fresh_store(url)
    try:
        lead = timedelta(seconds=15 + rate * duration / 4000)
        first_due = datetime.now(UTC) + lead
        seeded = workload.seed(
            engine,
            workload.Workload(
                transfers=rate * duration,
                due_at=first_due + timedelta(seconds=duration),
                spread=timedelta(seconds=duration),
                debit_accounts=1000,
            ),
            processes=2,
        )
        if datetime.now(UTC) >= seeded.earliest_due_at:
            raise RuntimeError("seeding took longer than the lead; lower --rate or --duration")
        with _serving(url, workers=workers, mode=mode, idle_sleep=0.05) as processes:
            end = seeded.latest_due_at + timedelta(seconds=10)
            _wait_for(
                engine, processes, deadline=time.monotonic() + (end - datetime.now(UTC)).seconds
            )
        late = _lateness(engine)
        require_consistent(engine)
    finally:
        engine.dispose()
    quantiles = statistics.quantiles(late, n=100)
    return Lateness(
        store=store,
        rate=rate,
        workers=workers,
        mode=mode,
        executed=len(late),
        p50=quantiles[49],
        p99=quantiles[98],
        worst=max(late),
    )


def fresh_store(url: str) -> sa.Engine:
    """An engine on `url` with every table dropped and migrated anew."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        engine = create_engine(url)
    else:
        tables.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    migrate.upgrade(engine)
    return engine


def seal_everything(engine: sa.Engine) -> None:
    """Seal the seeded schedules' audit records, so the run's sealer starts level."""

    def unit_of_work() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    while seal_audit(uow_factory=unit_of_work, clock=SystemClock()).records_sealed:
        pass


def vacuum(engine: sa.Engine) -> None:
    """Bring the planner's statistics and the visibility map up to date, as
    autovacuum has for a backlog that built up over days; on a bulk-loaded one it
    would otherwise start in the middle of the measurement."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def _time_claim(engine: sa.Engine, now: datetime) -> float:
    """Median milliseconds of claiming a batch on the full backlog, rolled back."""
    statement = statements.claim_due_operations(engine.dialect.name)
    params = {
        "now": now + timedelta(minutes=1),
        "limit": CLAIM_SAMPLE_BATCH,
        "worker": "bench-probe",
        "lease_until": now + timedelta(minutes=2),
    }
    samples = []
    for _ in range(5):
        with engine.connect() as connection:
            began = time.perf_counter()
            claimed = connection.execute(statement, params).all()
            samples.append((time.perf_counter() - began) * 1000)
            connection.rollback()
        if len(claimed) != CLAIM_SAMPLE_BATCH:
            raise RuntimeError(f"the probe claimed {len(claimed)} operations")
    return statistics.median(samples)


@contextmanager
def _serving(
    url: str,
    *,
    workers: int,
    mode: TransactionMode,
    idle_sleep: float,
    batch_size: int | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`workers` processes of `tsched serve` on `url`; stopped with SIGTERM on exit."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "DATABASE_URL": url}
    argv = [
        sys.executable,
        "-m",
        "scheduler.cli",
        "serve",
        "--quiet",
        "--no-migrate",
        "--no-api",
        "--mode",
        mode.value,
        "--idle-sleep",
        str(idle_sleep),
        *(["--batch-size", str(batch_size)] if batch_size else []),
    ]
    with tempfile.TemporaryDirectory(prefix="tsched-bench-") as cwd:
        env["PYTHONPATH"] = str(REPO_ROOT)
        processes = [
            subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
            for _ in range(workers)
        ]
        try:
            yield processes
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                if process.wait(timeout=60) != 0:
                    raise RuntimeError(f"a serve process exited with {process.returncode}")


def _wait_for(
    engine: sa.Engine, processes: list[subprocess.Popen[bytes]], *, deadline: float
) -> None:
    """Until `deadline`, or until no operation is open (pending, claimed, retrying)."""
    o = tables.operation.c
    open_operation = sa.select(o.id).where(o.status.in_(_OPEN)).limit(1)
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a serve process stopped by itself")
        with engine.connect() as connection:
            if connection.execute(open_operation).first() is None:
                return
        time.sleep(0.25)


def executed_span(engine: sa.Engine) -> tuple[int, float]:
    """Attempts recorded, and seconds from the first one's start to the last one's end."""
    h = tables.execution_attempt.c
    with engine.connect() as connection:
        count, first, last = connection.execute(
            sa.select(sa.func.count(), sa.func.min(h.started_at), sa.func.max(h.finished_at))
        ).one()
    return int(count), (last - first).total_seconds()


def _lateness(engine: sa.Engine) -> list[float]:
    h, o = tables.execution_attempt.c, tables.operation.c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(h.started_at, o.due_at).join_from(
                tables.execution_attempt, tables.operation, h.operation_id == o.id
            )
        ).all()
    return [max(0.0, (started - due).total_seconds()) for started, due in rows]


def require_consistent(engine: sa.Engine) -> None:
    """Raise unless the store reconciles (`workload.reconcile`)."""
    problems = workload.reconcile(engine).problems()
    if problems:
        raise RuntimeError("the store does not reconcile: " + "; ".join(problems))


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    with _stores(args) as stores:
        for store, url in stores:
            if not args.skip_throughput:
                for backlog in args.backlog:
                    for mode in args.mode:
                        workers = 1 if store == "sqlite" else args.workers
                        result = measure_throughput(
                            url,
                            store=store,
                            backlog=backlog,
                            workers=workers,
                            mode=mode,
                            seconds=args.seconds,
                        )
                        print(result.line(), flush=True)
            if not args.skip_lateness:
                workers = 1 if store == "sqlite" else args.workers
                late = measure_lateness(
                    url,
                    store=store,
                    rate=args.rate,
                    duration=args.duration,
                    workers=workers,
                    mode=TransactionMode.BATCH,
                )
                print(late.line(), flush=True)
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument(
        "--postgresql-url",
        help="an existing PostgreSQL database to use (default: a throwaway local cluster)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        nargs="+",
        default=[10_000, 1_000_000],
        help="due transfers waiting when the workers start",
    )
    parser.add_argument(
        "--mode",
        type=TransactionMode,
        nargs="+",
        default=[TransactionMode.BATCH, TransactionMode.PER_OPERATION],
    )
    parser.add_argument("--workers", type=int, default=4, help="serve processes on PostgreSQL")
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="longest a throughput run lasts"
    )
    parser.add_argument("--rate", type=int, default=500, help="transfers due per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds of steady arrivals")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-lateness", action="store_true")
    return parser.parse_args(argv)


@contextmanager
def _stores(args: argparse.Namespace) -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of each store to measure; starts PostgreSQL when none is given."""
    stores: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tsched-bench-sqlite-") as directory:
        if args.store in ("sqlite", "all"):
            stores.append(("sqlite", f"sqlite:///{directory}/bench.sqlite3"))
        if args.store in ("postgresql", "all"):
            if args.postgresql_url:
                stores.append(("postgresql", args.postgresql_url))
            else:
                server = PostgresServer()
                server.start()
                try:
                    stores.append(("postgresql", server.url_for(APP_DATABASE)))
                    yield stores
                finally:
                    server.close()
                return
        yield stores


if __name__ == "__main__":
    sys.exit(main())
