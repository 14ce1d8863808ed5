"""`tsched serve` through PostgreSQL restarts: real dispatcher processes, idle and busy,
keep running while their database is stopped and started again many times, a `serve`
started while the database is down waits for it, and in the end every transfer is paid
exactly once. The cluster is the test's own, since it is restarted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import workload
from scheduler.adapters.sql import tables
from scheduler.adapters.sql.engine import create_engine
from tests.services.postgres import APP_DATABASE, PostgresServer
from tests.support import reconciliation

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
RESTARTS = 12
RESTART_SEED = 20261204
DEADLINE = 90.0


@pytest.fixture
def server(own_postgres_server: PostgresServer) -> PostgresServer:
    return own_postgres_server


@pytest.fixture
def engine(own_postgres_store: sa.Engine) -> sa.Engine:
    return own_postgres_store


class Serving:
    """`tsched serve --no-api` processes on the test's database; killed at the end."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        number = len(self.processes)
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_URL": self.url,
            "LEASE_SECONDS": "5",
        }
        argv = [sys.executable, "-m", "scheduler.cli", "serve", "--no-api", "--quiet"]
        argv += ["--idle-sleep", "0.2"]
        with self.log(number).open("wb") as log:
            process = subprocess.Popen(argv, cwd=self.directory, env=env, stdout=log, stderr=log)
        self.processes.append(process)
        return process

    def log(self, number: int) -> Path:
        return self.directory / f"serve-{number}.log"

    def logs(self) -> str:
        return "\n".join(
            f"--- serve {n}:\n{self.log(n).read_text(errors='replace')}"
            for n in range(len(self.processes))
        )

    def assert_running(self) -> None:
        exited = [p.returncode for p in self.processes if p.poll() is not None]
        assert not exited, f"serve exited with {exited}\n{self.logs()}"

    def stop(self) -> list[int]:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=30) for process in self.processes]

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def serving(server: PostgresServer, tmp_path: Path) -> Iterator[Serving]:
    serving = Serving(server.url_for(APP_DATABASE), tmp_path)
    yield serving
    serving.kill()


def _seed(engine: sa.Engine, transfers: int, *, due_in: timedelta) -> workload.Seeded:
    return workload.seed(
        engine,
        workload.Workload(
            transfers=transfers,
            due_at=datetime.now(UTC) + due_in,
            spread=due_in if due_in > timedelta(0) else timedelta(seconds=1),
            debit_accounts=100,
        ),
    )


def _until(condition: Callable[[], bool], what: str, serving: Serving) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        serving.assert_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}\n{serving.logs()}")
        time.sleep(0.1)


def _settled(server: PostgresServer) -> bool:
    """Whether no operation is open and every audit record is sealed, read on a
    connection of its own each time (the server restarts under any other)."""
    engine = create_engine(server.url_for(APP_DATABASE))
    o, a = tables.operation.c, tables.audit_record.c
    try:
        with engine.connect() as connection:
            open_operations = connection.execute(
                sa.select(sa.func.count()).where(o.status.in_(("pending", "claimed", "retry_wait")))
            ).scalar_one()
            unsealed = connection.execute(
                sa.select(sa.func.count()).where(a.block_no.is_(None))
            ).scalar_one()
    finally:
        engine.dispose()
    return open_operations == unsealed == 0


def test_idle_and_busy_dispatchers_ride_through_repeated_database_restarts(
    server: PostgresServer, engine: sa.Engine, serving: Serving
) -> None:
    # Due over the next 20 s: the dispatchers are busy, then idle, through the restarts.
    seeded = _seed(engine, 4000, due_in=timedelta(seconds=20))
    engine.dispose()
    serving.start()
    serving.start()
    rng = random.Random(RESTART_SEED)  # noqa: S311 - restart timing, not security
    for _ in range(RESTARTS):
        time.sleep(rng.uniform(0.2, 1.5))  # a moment in the dispatchers' work to cut
        server.stop()
        time.sleep(rng.uniform(0.0, 1.0))  # the outage
        server.resume()
        serving.assert_running()

    _until(lambda: _settled(server), "every transfer is executed and audited", serving)
    assert serving.stop() == [0, 0], serving.logs()

    reconciliation.assert_every_transfer_paid_once(engine, seeded)
    logs = serving.logs()
    assert "the store is unavailable" in logs
    assert "Traceback" not in logs, logs


def test_a_dispatcher_started_while_the_database_is_down_waits_for_it(
    server: PostgresServer, engine: sa.Engine, serving: Serving
) -> None:
    seeded = _seed(engine, 20, due_in=timedelta(0))
    engine.dispose()
    server.stop()
    serving.start()
    _until(
        lambda: "the store is unavailable" in serving.log(0).read_text(errors="replace"),
        "serve says the store is unavailable",
        serving,
    )

    server.resume()

    _until(lambda: _settled(server), "the due transfers are executed and audited", serving)
    assert serving.stop() == [0], serving.logs()
    reconciliation.assert_every_transfer_paid_once(engine, seeded)


def test_a_dispatcher_refused_by_the_database_stops_and_says_why(
    server: PostgresServer, serving: Serving
) -> None:
    serving.url = (
        sa.make_url(server.url_for(APP_DATABASE))
        .set(database="no_such_db")
        .render_as_string(hide_password=False)
    )
    process = serving.start()

    assert process.wait(timeout=30) == 2
    log = serving.log(0).read_text(errors="replace")
    assert "no_such_db" in log
    assert "Traceback" not in log
