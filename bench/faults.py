"""The load-and-fault run, long version: 100,000 transfers through dispatchers killed at
random, Kafka broker outages of 30-60 s, PostgreSQL restarts and a core-banking system
failing a fifth of its calls; then a full reconciliation and the payments' lateness,
during each kind of fault and away from them.

Everything runs on loopback and is the run's own: a PostgreSQL cluster, a Kafka broker,
`--dispatchers` `tsched serve --no-api` processes relaying to it, and `--stubs`
core-banking stub processes (`tests/support/core_banking_stub.py`) over the ledger, the
dispatchers spread over them so that one stub is not the bottleneck.

- Transfers fall due `--rate` a second (0: all at once, which measures the highest rate
  the dispatchers hold under the faults).
- Faults are drawn at random (`--seed`) over the fault window (the due window, or
  `--fault-window` seconds when all fall due at once):
  - `--kills` SIGKILLs, each of a dispatcher holding leases when one does, replaced at once;
  - `--broker-outages` Kafka outages, each 30-60 s (`--broker-outage-seconds`);
  - `--database-restarts` PostgreSQL stops, each `--database-down` seconds long.
- Once every transfer has run and the outbox has drained, the run is reconciled: each
  transfer booked once and nothing else booked, balances exact, every outbox event in the
  topic (duplicates counted), the audit chain verified. Any failure exits 1.

The report goes to the terminal and to `.artifacts/faults/long-<rate>.txt`:

    python -m bench.faults                        # 100,000 at 500/s: about 10 minutes
    python -m bench.faults --rate 0               # 100,000 due at once
    python -m bench.faults --transfers 20000 --kills 20 --broker-outages 1
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import sqlalchemy as sa

from bench import fault_harness, workload
from bench.dispatch import fresh_store
from bench.fault_harness import FirstAttempt, Serving
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.progress import Progress
from scheduler.service.verify_audit import verify_audit
from tests.services.kafka import KafkaBroker
from tests.services.postgres import APP_DATABASE, PostgresServer
from tests.support import kafka_topics

REPO_ROOT = Path(__file__).resolve().parents[1]
S = TypeVar("S", PostgresServer, KafkaBroker)
#: Seconds after the last transfer's due time (or the faults' end) by which every
#: transfer must have run and every event been published.
SETTLE_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault as it happened: its kind, when it began and ended (a kill is an
    instant), and for a kill whether its victim held leases."""

    kind: str
    began: datetime
    ended: datetime
    held_leases: bool = False


class FaultLog:
    """The faults of a run, written by the threads that inject them."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def failed(self, what: str, error: BaseException) -> None:
        with self._lock:
            self.errors.append(f"{what}: {error!r}")

    def count(self) -> Counter[str]:
        counts = Counter(fault.kind for fault in self.faults)
        counts["kill holding leases"] = sum(fault.held_leases for fault in self.faults)
        return counts


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    rng = random.Random(args.seed)
    spread = timedelta(seconds=args.transfers / args.rate) if args.rate else timedelta(0)
    window = spread.total_seconds() or args.fault_window
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tsched-faults-")))
        server = stack.enter_context(_started(PostgresServer()))
        broker = stack.enter_context(_started(KafkaBroker()))
        url = server.url_for(APP_DATABASE)
        engine = fresh_store(url)
        stack.callback(engine.dispose)
        topic = kafka_topics.create_topic(broker.bootstrap_servers, partitions=6)
        lead = timedelta(seconds=20 + args.transfers / 1500)
        first_due = datetime.now(UTC) + lead
        seeded = workload.seed(
            engine,
            workload.Workload(
                transfers=args.transfers,
                due_at=first_due + spread,
                spread=spread,
                debit_accounts=1000,
                credit_accounts=200,
            ),
            processes=2,
        )
        if args.rate and datetime.now(UTC) >= seeded.earliest_due_at:
            raise SystemExit("seeding took longer than the lead; lower --transfers")
        stubs = stack.enter_context(_stubs(url, args, directory))
        serves = Serving(
            {
                "PATH": os.environ.get("PATH", os.defpath),
                "PYTHONPATH": str(REPO_ROOT),
                "DATABASE_URL": url,
                "LEASE_SECONDS": str(args.lease),
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "KAFKA_TOPIC": topic,
            },
            directory,
            per_process=[{"CORE_BANKING_URL": stub} for stub in stubs],
        )
        stack.callback(serves.close)
        for _ in range(args.dispatchers):
            serves.start()
        while datetime.now(UTC) < seeded.earliest_due_at:
            time.sleep(0.05)
        began = time.monotonic()
        injector = Injector(rng, args, window, engine, server, broker, serves)
        log = injector.log
        injectors = injector.start()
        _settle(engine, serves, injectors, args.transfers, began + window + SETTLE_SECONDS)
        exits = serves.stop()
        answers = _answers(stubs)
        checks = _reconcile(engine, seeded, broker.bootstrap_servers, topic)
        if set(exits.values()) != {0}:
            checks.failures.append(f"dispatchers exited with {exits}")
        checks.failures.extend(log.errors)
        report = _report(args, log, answers, checks, fault_harness.first_attempts(engine))
    print(report)
    folder = Path(os.environ.get("TSCHED_ARTIFACTS", REPO_ROOT / ".artifacts")) / "faults"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"long-{args.rate}.txt").write_text(report + "\n", encoding="utf-8")
    return 1 if checks.failures else 0


@contextmanager
def _started(service: S) -> Iterator[S]:
    service.start()
    try:
        yield service
    finally:
        service.close()


@contextmanager
def _stubs(url: str, args: argparse.Namespace, directory: Path) -> Iterator[list[str]]:
    """`args.stubs` core-banking stub processes on the ledger at `url`; yields their
    base URLs. Each fails a transfer at most once, so that with its retries spread over
    the stubs a transfer fails at most `args.stubs` times."""
    processes: list[subprocess.Popen[str]] = []
    try:
        urls = []
        for number in range(args.stubs):
            argv = [sys.executable, "-m", "tests.support.core_banking_stub"]
            argv += ["--database-url", url, "--max-failures", "1"]
            argv += ["--seed", str(args.seed + number)]
            with (directory / f"stub-{number}.log").open("w") as log:
                stub = subprocess.Popen(  # noqa: S603 - our own module
                    argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True
                )
            processes.append(stub)
            port = stub.stdout.readline() if stub.stdout is not None else ""
            urls.append(f"http://127.0.0.1:{int(port)}")
        yield urls
    finally:
        for stub in processes:
            stub.terminate()
            stub.wait(timeout=30)


@dataclass
class Injector:
    """Injects a run's faults over `window` seconds from `start`, one thread per kind.
    Every timeline, and the random victim choices, are drawn from `rng` before any thread
    starts, so that a seed gives the same faults at the same moments."""

    rng: random.Random
    args: argparse.Namespace
    window: float
    engine: sa.Engine
    server: PostgresServer
    broker: KafkaBroker
    serves: Serving
    log: FaultLog = field(default_factory=FaultLog)

    def start(self) -> list[threading.Thread]:
        """Start the threads; returns them."""
        args = self.args
        kills = sorted(self.rng.uniform(0, self.window) for _ in range(args.kills))
        victims = random.Random(self.rng.random())
        low, high = args.broker_outage_seconds
        broker = self._outage_plan(args.broker_outages, lambda: self.rng.uniform(low, high))
        database = self._outage_plan(args.database_restarts, lambda: args.database_down)
        timelines: dict[str, Callable[[float], None]] = {
            "kills": lambda began: self._kills(began, kills, victims),
            "broker": lambda began: self._outages(
                began, "broker outage", broker, (self.broker.stop, self.broker.start)
            ),
            "database": lambda began: self._outages(
                began, "database restart", database, (self.server.stop, self.server.resume)
            ),
        }
        began = time.monotonic()
        threads = [
            threading.Thread(target=self._guarded, args=(name, timeline, began))
            for name, timeline in timelines.items()
        ]
        for thread in threads:
            thread.start()
        return threads

    def _outage_plan(self, count: int, seconds: Callable[[], float]) -> list[tuple[float, float]]:
        """(offset, length) of `count` outages, one at a random moment in each of `count`
        equal parts of the window, each `seconds()` long."""
        part = self.window / max(1, count)
        plan = []
        for number in range(count):
            length = seconds()
            plan.append((number * part + self.rng.uniform(0, max(0.0, part - length)), length))
        return plan

    def _guarded(self, name: str, timeline: Callable[[float], None], began: float) -> None:
        try:
            timeline(began)
        except Exception as error:  # the run reports it and fails
            self.log.failed(name, error)

    def _kills(self, began: float, offsets: list[float], victims: random.Random) -> None:
        for offset in offsets:
            _sleep_until(began + offset)
            now = datetime.now(UTC)
            held = self.serves.kill_one(self.engine, victims.choice)
            self.log.add(Fault("kill", now, now, held_leases=held))

    def _outages(
        self,
        began: float,
        kind: str,
        plan: list[tuple[float, float]],
        stop_and_start: tuple[Callable[[], None], Callable[[], None]],
    ) -> None:
        stop, start = stop_and_start
        for offset, length in plan:
            _sleep_until(began + offset)
            stopped = datetime.now(UTC)
            try:
                stop()
                time.sleep(length)
            finally:
                start()
            self.log.add(Fault(kind, stopped, datetime.now(UTC)))


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _settle(
    engine: sa.Engine,
    serves: Serving,
    injectors: list[threading.Thread],
    transfers: int,
    deadline: float,
) -> None:
    """Until the faults are over, every transfer has run and the outbox has drained,
    counting first attempts on the terminal; raises past `deadline`."""
    with Progress("executing", total=transfers, unit="transfers") as progress:
        while True:
            try:
                done = transfers - fault_harness.open_operations(engine)
                progress.set(done)
                settled = (
                    not any(thread.is_alive() for thread in injectors)
                    and done == transfers
                    and workload.unpublished(engine) == 0
                )
            except sa.exc.OperationalError:
                settled = False  # the database is restarting
            if settled:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {fault_harness.statuses(engine)}\n{serves.logs()}")
            time.sleep(0.5)


def _answers(stubs: Sequence[str]) -> Counter[str]:
    total: Counter[str] = Counter()
    for stub in stubs:
        total.update(httpx.get(f"{stub}/answers", timeout=10).json())
    return total


@dataclass
class Checks:
    """What the reconciliation found: failures in words, and the Kafka deliveries."""

    failures: list[str]
    events_written: int
    deliveries: int
    distinct_delivered: int


def _reconcile(engine: sa.Engine, seeded: workload.Seeded, bootstrap: str, topic: str) -> Checks:
    facts = workload.reconcile(engine)
    failures = list(facts.problems())
    expected = {("execution", "succeeded"): seeded.schedules}
    if dict(facts.operations) != expected:
        failures.append(f"operations {dict(facts.operations)}, expected {expected}")
    if facts.transfer_entries != seeded.schedules:
        failures.append(f"{facts.transfer_entries} bookings for {seeded.schedules} transfers")
    balances = {account: balance for account, (_, balance) in facts.balances.items()}
    wrong = {a: b for a, b in seeded.final_balances().items() if balances.get(a) != b}
    if wrong:
        failures.append(f"{len(wrong)} balances differ from the transfers")
    audit = verify_audit(uow=SqlUnitOfWork(engine))
    if not audit.ok:
        failures.append(f"the audit chain does not verify: {audit}")
    written, delivered = fault_harness.events(engine, bootstrap, topic)
    if missing := written - set(delivered):
        failures.append(f"{len(missing)} outbox events never reached Kafka")
    return Checks(failures, len(written), len(delivered), len(set(delivered)))


def _report(
    args: argparse.Namespace,
    log: FaultLog,
    answers: Counter[str],
    checks: Checks,
    attempts: list[FirstAttempt],
) -> str:
    """The run in a few lines: what it was, what it went through, what it found, and the
    lateness of first attempts by the faults around their due time."""
    lease = timedelta(seconds=args.lease)
    first_due = min(attempt.due_at for attempt in attempts)
    last_start = max(attempt.started_at for attempt in attempts)
    span = (last_start - first_due).total_seconds()
    rate = f"{args.rate}/s" if args.rate else "all due at once"
    lines = [
        f"{args.transfers} transfers ({rate}), {args.dispatchers} dispatchers, {args.stubs} "
        f"core-banking stubs, LEASE_SECONDS={args.lease}, seed {args.seed}",
        f"faults: {dict(log.count())}",
        f"gateway answers: {dict(answers)}",
        f"events: {checks.events_written} written, {checks.distinct_delivered} delivered "
        f"{checks.deliveries} times ({checks.deliveries - checks.distinct_delivered} duplicates)",
        f"first attempts: {len(attempts)}, the last started {span:.1f} s after the first "
        f"was due ({len(attempts) / max(span, 1e-9):.0f}/s)",
        f"first-attempt lateness, all: {fault_harness.quantiles([a.lateness for a in attempts])}",
    ]
    near = {
        kind: [a for a in attempts if any(_near(a, f, lease) for f in log.faults if f.kind == kind)]
        for kind in sorted({fault.kind for fault in log.faults})
    }
    for kind, hit in near.items():
        lines.append(
            f"  due during a {kind} (or a lease after): {len(hit)}, "
            f"{fault_harness.quantiles([a.lateness for a in hit])}"
        )
    calm = [a for a in attempts if not any(_near(a, f, lease) for f in log.faults)]
    lines.append(
        f"  due away from every fault: {len(calm)}, "
        f"{fault_harness.quantiles([a.lateness for a in calm])}"
    )
    for fault in log.faults:
        if fault.kind != "kill":
            hit = [a for a in attempts if _near(a, fault, lease)]
            seconds = (fault.ended - fault.began).total_seconds()
            started = sum(fault.began <= a.started_at <= fault.ended for a in attempts)
            lines.append(
                f"  {fault.kind} {fault.began:%H:%M:%S}-{fault.ended:%H:%M:%S} "
                f"({seconds:.0f} s): {started} first attempts started in it "
                f"({started / max(seconds, 1e-9):.0f}/s); {len(hit)} due in it or a lease "
                f"after, {fault_harness.quantiles([a.lateness for a in hit])}"
            )
    lines.append(
        "reconciled: every transfer booked once, nothing else booked, balances exact, "
        "every event in Kafka, audit chain verified"
        if not checks.failures
        else "FAILED: " + "; ".join(checks.failures)
    )
    return "\n".join(lines)


def _near(attempt: FirstAttempt, fault: Fault, lease: timedelta) -> bool:
    """Whether `attempt`'s transfer fell due while `fault` lasted or within a lease after
    it (how long a killed dispatcher's operations wait)."""
    return fault.began <= attempt.due_at <= fault.ended + lease


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument(
        "--rate", type=int, default=500, help="transfers falling due a second; 0: all at once"
    )
    parser.add_argument("--dispatchers", type=int, default=4)
    parser.add_argument("--stubs", type=int, default=3)
    parser.add_argument("--lease", type=int, default=10, help="LEASE_SECONDS (default 10)")
    parser.add_argument("--kills", type=int, default=55)
    parser.add_argument("--broker-outages", type=int, default=2)
    parser.add_argument(
        "--broker-outage-seconds", type=float, nargs=2, default=(30.0, 60.0), metavar=("MIN", "MAX")
    )
    parser.add_argument("--database-restarts", type=int, default=2)
    parser.add_argument("--database-down", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument(
        "--fault-window",
        type=float,
        default=150.0,
        metavar="SECONDS",
        help="with --rate 0, the seconds over which faults are drawn (default 150)",
    )
    parser.add_argument("--seed", type=int, default=20261205)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
