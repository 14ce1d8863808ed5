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
    python -m bench.dispatch --store postgresql --skip-throughput --kafka-outage 60
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
from scheduler.progress import Progress
from scheduler.service.execute_claimed import TransactionMode
from scheduler.service.seal_audit import seal_audit
from tests.services.kafka import KafkaBroker
from tests.services.postgres import APP_DATABASE, PostgresServer
from tests.support import kafka_topics

REPO_ROOT = Path(__file__).resolve().parents[1]
CLAIM_SAMPLE_BATCH = 500


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
    events: EventsDrained | None = None

    def line(self) -> str:
        line = (
            f"{self.store:<10} {self.rate}/s steady  {self.workers} workers  "
            f"{self.mode.value:<13} {self.executed:>7,} executed  lateness p50 "
            f"{self.p50 * 1000:.0f} ms, p99 {self.p99 * 1000:.0f} ms, "
            f"max {self.worst * 1000:.0f} ms"
        )
        if self.events is not None:
            line += f"  {self.events.line()}"
        return line


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaOutage:
    """Events relayed to `topic` on `broker`, which is stopped for `seconds` from the
    first due time (0: never stopped)."""

    broker: KafkaBroker
    topic: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsDrained:
    """What became of the events: the most the outbox held unpublished while the run
    went on, and how long after the broker came back the outbox was empty."""

    outage_seconds: float
    peak_unpublished: int
    drained_after: float

    def line(self) -> str:
        if not self.outage_seconds:
            return (
                f"Kafka up throughout: {self.peak_unpublished:,} events waiting when the "
                f"transfers were done, all published {self.drained_after:.1f} s later"
            )
        return (
            f"Kafka stopped {self.outage_seconds:.0f} s: outbox peaked at "
            f"{self.peak_unpublished:,} events, empty {self.drained_after:.1f} s after it returned"
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
    url: str,
    *,
    store: str,
    rate: int,
    duration: int,
    workers: int,
    mode: TransactionMode,
    kafka: KafkaOutage | None = None,
) -> Lateness:
    """Seed `rate` transfers due each second for `duration` seconds, starting once
    seeding is done, and serve them on the real clock; with `kafka`, relaying the events
    to it through a broker outage, and waiting for the outbox to drain after."""
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
        env = {} if kafka is None else _kafka_settings(kafka)
        events = None
        with _serving(url, workers=workers, mode=mode, idle_sleep=0.05, env=env) as processes:
            end = seeded.latest_due_at + timedelta(seconds=10)
            with _outage(
                kafka,
                starting=seeded.earliest_due_at,
                unpublished=lambda: workload.unpublished(engine),
            ) as outage:
                _wait_for(
                    engine,
                    processes,
                    deadline=time.monotonic() + (end - datetime.now(UTC)).seconds,
                )
            if kafka is not None:
                events = _drain(engine, kafka, outage)
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
        events=events,
    )


def _kafka_settings(kafka: KafkaOutage) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": kafka.broker.bootstrap_servers, "KAFKA_TOPIC": kafka.topic}


@dataclass
class _Outage:
    """When the broker came back (monotonic seconds), and how many events were waiting
    in the outbox just before."""

    returned: float = 0.0
    peak_unpublished: int = 0


@contextmanager
def _outage(
    kafka: KafkaOutage | None, *, starting: datetime, unpublished: Callable[[], int]
) -> Iterator[_Outage]:
    """Stop the broker at `starting` for `kafka.seconds`, on a thread beside the run;
    on exit, wait until it is back."""
    outage = _Outage()
    if kafka is None or not kafka.seconds:
        outage.returned = time.monotonic()
        yield outage
        return

    def stop_then_start() -> None:
        time.sleep(max(0.0, (starting - datetime.now(UTC)).total_seconds()))
        kafka.broker.stop()
        time.sleep(kafka.seconds)
        outage.peak_unpublished = unpublished()
        kafka.broker.start()
        outage.returned = time.monotonic()

    thread = threading.Thread(target=stop_then_start, name="kafka-outage")
    thread.start()
    try:
        yield outage
    finally:
        thread.join()


def _drain(engine: sa.Engine, kafka: KafkaOutage, outage: _Outage) -> EventsDrained:
    """Wait until the outbox is empty; how it went, timed from the broker's return (or,
    without an outage, from now)."""
    since = outage.returned if kafka.seconds else time.monotonic()
    peak = 0
    while True:
        unpublished = workload.unpublished(engine)
        peak = max(peak, unpublished)
        if unpublished == 0:
            return EventsDrained(
                outage_seconds=kafka.seconds,
                peak_unpublished=max(peak, outage.peak_unpublished),
                drained_after=time.monotonic() - since,
            )
        time.sleep(0.25)


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
    env: dict[str, str] | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`workers` processes of `tsched serve` on `url`, with the settings `env` adds;
    stopped with SIGTERM on exit."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "DATABASE_URL": url, **(env or {})}
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
    """Until `deadline`, or until no operation is open (pending, claimed, retrying),
    counting the attempts recorded meanwhile on the terminal."""
    o = tables.operation.c
    open_operation = sa.select(o.id).where(o.status.in_(workload.OPEN_STATUSES)).limit(1)
    attempts = sa.select(sa.func.count()).select_from(tables.execution_attempt)
    with Progress("executing", unit="attempts") as progress:
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in processes):
                raise RuntimeError("a serve process stopped by itself")
            with engine.connect() as connection:
                progress.set(int(connection.scalar(attempts) or 0))
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
                with _kafka(args.kafka_outage) as kafka:
                    late = measure_lateness(
                        url,
                        store=store,
                        rate=args.rate,
                        duration=args.duration,
                        workers=workers,
                        mode=TransactionMode.BATCH,
                        kafka=kafka,
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
    parser.add_argument(
        "--kafka-outage",
        type=float,
        metavar="SECONDS",
        help="relay the lateness run's events to a Kafka broker of its own, stopped for "
        "SECONDS from the first due time (0: up throughout); default: no Kafka",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-lateness", action="store_true")
    return parser.parse_args(argv)


@contextmanager
def _kafka(outage_seconds: float | None) -> Iterator[KafkaOutage | None]:
    """A Kafka broker of the run's own and a topic, when an outage is asked for."""
    if outage_seconds is None:
        yield None
        return
    broker = KafkaBroker()
    broker.start()
    try:
        topic = kafka_topics.create_topic(broker.bootstrap_servers)
        yield KafkaOutage(broker=broker, topic=topic, seconds=outage_seconds)
    finally:
        broker.close()


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
