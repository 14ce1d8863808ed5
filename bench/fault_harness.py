"""What the load-and-fault runs share (the fast one in `tests/integration/
test_load_and_faults.py`, the long one in `bench.faults`): dispatcher processes that can
be SIGKILLed and replaced, the readings a run waits on and reconciles with, and its
first attempts' lateness."""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench import workload
from scheduler.adapters.sql import tables
from tests.support import kafka_topics


class Serving:
    """`tsched serve --no-api` processes, each with the settings `env` and a log file of
    its own in `directory`. The n-th started adds `per_process[n % len(per_process)]`
    to `env` (so that dispatchers spread over several gateways)."""

    def __init__(
        self,
        env: dict[str, str],
        directory: Path,
        *,
        per_process: Sequence[dict[str, str]] = ({},),
    ) -> None:
        self.env = env
        self.directory = directory
        self.per_process = per_process
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> str:
        number = len(self.processes)
        name = f"serve-{number:02d}"
        argv = [sys.executable, "-m", "scheduler.cli", "serve", "--no-api", "--quiet"]
        argv += ["--idle-sleep", "0.2"]
        env = {**self.env, **self.per_process[number % len(self.per_process)]}
        with (self.directory / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own command
                argv, cwd=self.directory, env=env, stdout=log, stderr=log
            )
        return name

    def live(self) -> dict[str, subprocess.Popen[bytes]]:
        return {name: p for name, p in self.processes.items() if p.poll() is None}

    def kill(self, name: str) -> None:
        self.processes[name].kill()
        self.processes[name].wait()

    def kill_one(
        self, engine: sa.Engine, choose: Callable[[list[str]], str], *, patience: float = 1.0
    ) -> bool:
        """SIGKILL one live process, one holding leases when any does within `patience`
        seconds (a batch is held briefly), `choose` picking among the candidates; start
        another in its place. Returns whether the victim held leases."""
        deadline = time.monotonic() + patience
        while True:
            pids = lease_holder_pids(engine)
            live = self.live()
            holders = sorted(name for name, process in live.items() if process.pid in pids)
            if holders or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        self.kill(choose(holders or sorted(live)))
        self.start()
        return bool(holders)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}:\n{(self.directory / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name in self.processes
        )

    def stop(self) -> dict[str, int]:
        live = self.live()
        for process in live.values():
            process.send_signal(signal.SIGTERM)
        return {name: process.wait(timeout=60) for name, process in live.items()}

    def close(self) -> None:
        for process in self.live().values():
            process.kill()
            process.wait()


def lease_holder_pids(engine: sa.Engine) -> set[int]:
    """The process ids of the workers holding an unexpired lease (a worker is named
    host-pid-suffix, `bootstrap.default_worker_name`); none while the store is down."""
    o = tables.operation.c
    query = (
        sa.select(o.lease_owner)
        .distinct()
        .where(o.status == "claimed", o.lease_expires_at > datetime.now(UTC))
    )
    try:
        with engine.connect() as connection:
            owners = connection.execute(query).scalars()
            return {int(str(owner).rsplit("-", 2)[1]) for owner in owners}
    except sa.exc.OperationalError:
        return set()


def open_operations(engine: sa.Engine) -> int:
    """Operations still to run: pending, claimed or waiting to retry."""
    o = tables.operation.c
    query = sa.select(sa.func.count()).where(o.status.in_(workload.OPEN_STATUSES))
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def events(engine: sa.Engine, bootstrap: str, topic: str) -> tuple[set[str], list[str]]:
    """The outbox's event ids, and the ids of every message in the topic (a duplicate
    delivery appears twice)."""
    with engine.connect() as connection:
        written = {
            str(i) for i in connection.execute(sa.select(tables.outbox.c.event_id)).scalars()
        }
    messages = kafka_topics.read_topic(bootstrap, topic)
    return written, [json.loads(message.value() or b"{}")["id"] for message in messages]


@dataclass(frozen=True, slots=True)
class FirstAttempt:
    """When a payment was due and when its first recorded attempt started. (An attempt
    whose dispatcher was killed before recording it leaves no row: the next claim's
    attempt is the first one recorded.)"""

    due_at: datetime
    started_at: datetime

    @property
    def lateness(self) -> float:
        return max(0.0, (self.started_at - self.due_at).total_seconds())


def first_attempts(engine: sa.Engine) -> list[FirstAttempt]:
    """The first recorded attempt of each payment."""
    h = tables.execution_attempt.c
    query = (
        sa.select(sa.func.min(h.due_at), sa.func.min(h.started_at))
        .where(h.kind == "execution")
        .group_by(h.operation_id)
    )
    with engine.connect() as connection:
        return [FirstAttempt(*row) for row in connection.execute(query).all()]


def quantiles(values: Sequence[float]) -> str:
    """ "p50 x s, p99 y s, max z s" of `values` (seconds)."""
    if not values:
        return "none"
    ordered = sorted(values)
    p99 = ordered[max(0, -(-len(ordered) * 99 // 100) - 1)]
    return f"p50 {statistics.median(ordered):.2f} s, p99 {p99:.2f} s, max {ordered[-1]:.2f} s"


def statuses(engine: sa.Engine) -> dict[str, object]:
    """For a failure message: operations by status (count, most attempts, latest next
    claim), and the commonest reasons of those retrying or dead."""
    o = tables.operation.c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                o.status, sa.func.count(), sa.func.max(o.attempts), sa.func.max(o.available_at)
            ).group_by(o.status)
        ).all()
        reasons = connection.execute(
            sa.select(o.last_error_code, o.last_error_reason, sa.func.count())
            .where(o.status.in_(("dead", "retry_wait")))
            .group_by(o.last_error_code, o.last_error_reason)
            .limit(5)
        ).all()
    return {
        **{row[0]: (row[1], row[2], str(row[3])) for row in rows},
        "reasons": [tuple(row) for row in reasons],
    }
