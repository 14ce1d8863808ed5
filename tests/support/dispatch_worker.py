"""One dispatcher process for the concurrency and crash tests: the product's runtime
(`scheduler.bootstrap.build`) running the product's loop (`scheduler.runner.serve`)
until a pass finds nothing to do.

    python -m tests.support.dispatch_worker --database-url URL --lease-seconds 2 \\
        --batch-size 200

Settings are built from the arguments, so run it with a clean environment and a
working directory without `local.settings.json` to keep other values out. It prints
one JSON line when it stops on its own: its worker name and what its passes did. A
SIGTERM stops it after the current pass; a SIGKILL is the crash the tests stage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import SecretStr

from scheduler.bootstrap import build
from scheduler.config import Settings
from scheduler.runner import Cycle, LoopSettings, serve
from scheduler.service.execute_claimed import TransactionMode

#: The repository root, put on the worker's PYTHONPATH (it runs from another directory).
REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_CHARS = 3000


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Dispatch due operations until idle.")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--lease-seconds", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--mode", choices=[mode.value for mode in TransactionMode], default="batch")
    parser.add_argument("--worker", default=None, help="worker name (default: host-pid-random)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch until a pass finds no work, print a summary, and return 0 unless an
    outcome failed to record or the product logged an error."""
    args = _arguments(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    settings = Settings(
        database_url=SecretStr(args.database_url),
        lease_seconds=args.lease_seconds,
        dispatch_batch_size=args.batch_size,
    )
    runtime = build(settings, worker=args.worker)
    loop = LoopSettings(
        batch_size=settings.dispatch_batch_size,
        lease=timedelta(seconds=settings.lease_seconds),
        mode=TransactionMode(args.mode),
        idle_sleep=0.2,
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    totals: Counter[str] = Counter()
    logging.getLogger().addHandler(_CountingHandler(totals))

    def on_cycle(cycle: Cycle) -> None:
        totals["cycles"] += 1
        totals["claimed"] += cycle.claimed
        totals["lost_leases"] += cycle.lost_leases
        totals["errors"] += cycle.errors
        totals["sealed"] += cycle.sealed
        for status, count in cycle.recorded.items():
            totals[f"recorded_{status.value}"] += count

    try:
        serve(runtime, loop, stop=stop, on_cycle=on_cycle, until_idle=True)
    finally:
        runtime.close()
    sys.stdout.write(json.dumps({"worker": runtime.worker, **totals}) + "\n")
    return 1 if totals["errors"] or totals["logged_error"] else 0


class _CountingHandler(logging.Handler):
    """Counts the warnings and errors the product logs (a failed pass, a ledger that
    could not answer, a lost key race), so the summary shows them."""

    def __init__(self, totals: Counter[str]) -> None:
        super().__init__(level=logging.WARNING)
        self._totals = totals

    def emit(self, record: logging.LogRecord) -> None:
        self._totals[f"logged_{record.levelname.lower()}"] += 1


@dataclass(frozen=True, slots=True)
class WorkerProcess:
    """A dispatch worker started by `spawn`, its output going to files in `log_dir`."""

    name: str
    popen: subprocess.Popen[bytes]
    log_dir: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL this worker (the crash) and reap it."""
        if self.running():
            self.popen.kill()
        self.popen.wait()

    def wait(self, timeout: float) -> int:
        """Its exit code; raises `subprocess.TimeoutExpired` if still running after
        `timeout` seconds."""
        return self.popen.wait(timeout=timeout)

    def summary(self) -> dict[str, Any] | None:
        """The JSON summary it printed when it stopped on its own, if it did."""
        lines = (self.log_dir / f"{self.name}.out").read_text().splitlines()
        return json.loads(lines[-1]) if lines else None

    def output(self) -> str:
        """The tail of its stderr, for failure messages."""
        text = (self.log_dir / f"{self.name}.err").read_text(errors="replace")
        return f"--- {self.name} (pid {self.pid}) stderr ---\n{text[-LOG_TAIL_CHARS:]}"


def spawn(
    database_url: str,
    *,
    name: str,
    log_dir: Path,
    lease_seconds: int,
    batch_size: int,
    mode: TransactionMode = TransactionMode.BATCH,
) -> WorkerProcess:
    """Start a worker process named `name` with a clean environment (PATH, the repo on
    PYTHONPATH and DATABASE_URL) in `log_dir`, where no `local.settings.json` lives."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": database_url,
    }
    argv = [
        sys.executable,
        "-m",
        "tests.support.dispatch_worker",
        "--database-url",
        database_url,
        "--lease-seconds",
        str(lease_seconds),
        "--batch-size",
        str(batch_size),
        "--mode",
        mode.value,
        "--worker",
        name,
    ]
    with (
        (log_dir / f"{name}.out").open("wb") as out,
        (log_dir / f"{name}.err").open("wb") as err,
    ):
        popen = subprocess.Popen(argv, cwd=log_dir, env=env, stdout=out, stderr=err)
    return WorkerProcess(name=name, popen=popen, log_dir=log_dir)


if __name__ == "__main__":
    sys.exit(main())
