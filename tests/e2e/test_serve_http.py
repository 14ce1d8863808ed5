"""`tsched serve` as a process: its HTTP API takes a schedule over real HTTP, its
dispatcher executes it through the embedded ledger, the history and its downloads
show the attempt over HTTP, and SIGTERM stops both. `tsched api` alone, in two worker
processes, answers too."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.engine import create_engine
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.clocks import SystemClock
from scheduler.domain.money import Money
from tests.services.process import free_ports
from tests.support.schedules import MORTGAGE

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0


@dataclass(frozen=True)
class Served:
    base_url: str
    database_url: str
    directory: Path
    process: subprocess.Popen[bytes]
    metrics_url: str | None = None

    @property
    def traces_file(self) -> Path:
        return self.directory / "traces.jsonl"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`tsched serve`: the dispatcher, and the API on a thread beside it."""
    yield from _start(tmp_path, ["serve", "--quiet", "--idle-sleep", "0.2", "--api-port"])


@pytest.fixture
def served_with_metrics(tmp_path: Path) -> Iterator[Served]:
    """`tsched serve` with METRICS_PORT: its metrics for Prometheus on loopback."""
    yield from _start(
        tmp_path, ["serve", "--quiet", "--idle-sleep", "0.2", "--api-port"], metrics=True
    )


@pytest.fixture
def served_with_traces(tmp_path: Path) -> Iterator[Served]:
    """`tsched serve` with TRACES_FILE: its spans as JSON lines in `traces.jsonl`."""
    yield from _start(
        tmp_path, ["serve", "--quiet", "--idle-sleep", "0.2", "--api-port"], traces=True
    )


@pytest.fixture
def api_alone(tmp_path: Path) -> Iterator[Served]:
    """`tsched api` in two worker processes, no dispatcher, spans in `traces.jsonl`."""
    yield from _start(tmp_path, ["api", "--workers", "2", "--port"], traces=True)


def _start(
    directory: Path, command: list[str], *, metrics: bool = False, traces: bool = False
) -> Iterator[Served]:
    """Run `tsched <command> <free port>` in `directory` on a migrated SQLite store where
    Alice holds GB-DEBIT-1 (500.00 GBP), with its metrics on another free port if
    `metrics`, its spans in `traces.jsonl` if `traces`; kill it at the end if a test has
    not stopped it."""
    database_url = f"sqlite:///{directory / 'tsched.sqlite3'}"
    engine = create_engine(database_url)
    migrate.upgrade(engine)
    ledger = Ledger(engine, SystemClock())
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("500.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    engine.dispose()
    port, metrics_port = free_ports(2)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": database_url,
    }
    metrics_url = None
    if metrics:
        env["METRICS_PORT"] = str(metrics_port)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    if traces:
        env["TRACES_FILE"] = str(directory / "traces.jsonl")
    argv = [sys.executable, "-m", "scheduler.cli", *command, str(port)]
    with (directory / "serve.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=directory, env=env, stdout=log, stderr=log)
    served = Served(f"http://127.0.0.1:{port}", database_url, directory, process, metrics_url)
    try:
        _until(lambda: _ready(served), "the API answers ready")
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _ready(served: Served) -> bool:
    if served.process.poll() is not None:
        log = (served.directory / "serve.log").read_text(errors="replace")
        raise AssertionError(f"tsched serve exited with {served.process.returncode}:\n{log}")
    try:
        return httpx.get(f"{served.base_url}/v1/health/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def _transfer_in_3_seconds(served: Served, headers: dict[str, str]) -> None:
    """Create a 120.00 GBP transfer due 3 s from now over HTTP; return once it is paid."""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    document: dict[str, Any] = {
        "kind": "one_time_transfer",
        "debit_account": "GB-DEBIT-1",
        "credit_account": "GB-CREDIT-1",
        "amount": {"value": "120.00", "currency": "GBP"},
        "start_date": due.date().isoformat(),
        "time_of_day": due.time().isoformat(),
        "time_zone": "UTC",
        # Whatever today is: a weekend day must not move it to Monday.
        "business_days": {"convention": "none"},
        "reminders": [],
    }
    created = httpx.post(
        f"{served.base_url}/v1/schedules",
        json=document,
        headers=headers | {"Idempotency-Key": "e2e-1"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    location = served.base_url + created.headers["Location"]

    def completed() -> bool:
        status: str = httpx.get(location, headers=headers, timeout=5).json()["status"]
        return status == "completed"

    _until(completed, "the schedule completes")


def test_a_transfer_created_over_http_is_executed_by_the_same_process(served: Served) -> None:
    signer = DevelopmentSigner(served.directory / ".tsched")
    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")
    headers = {"Authorization": f"Bearer {token}"}

    _transfer_in_3_seconds(served, headers)
    engine = create_engine(served.database_url)
    try:
        assert Ledger(engine, SystemClock()).balance("GB-DEBIT-1") == Money.of("380.00", "GBP")
    finally:
        engine.dispose()
    history = httpx.get(f"{served.base_url}/v1/history", headers=headers, timeout=5).json()
    assert [(item["status"], item["amount"]["value"]) for item in history["items"]] == [
        ("succeeded", "120.00")
    ]
    with httpx.stream(
        "GET", f"{served.base_url}/v1/history/export.csv", headers=headers, timeout=5
    ) as download:
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
        rows = b"".join(download.iter_bytes()).decode().splitlines()
    assert len(rows) == 2
    assert "120.00" in rows[1]

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=DEADLINE) == 0


def test_the_api_alone_in_two_processes_creates_and_reads_and_stops_on_sigterm(
    api_alone: Served,
) -> None:
    signer = DevelopmentSigner(api_alone.directory / ".tsched")
    headers = {"Authorization": f"Bearer {signer.issue('alice', [Role.CUSTOMER], 'alice')}"}
    document = MORTGAGE | {
        "start_date": (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    }

    created = httpx.post(
        f"{api_alone.base_url}/v1/schedules",
        json=document,
        headers=headers | {"Idempotency-Key": "e2e-api-1"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    location = api_alone.base_url + created.headers["Location"]
    reads = {httpx.get(location, headers=headers, timeout=5).status_code for _ in range(10)}
    assert reads == {200}

    api_alone.process.send_signal(signal.SIGTERM)
    assert api_alone.process.wait(timeout=DEADLINE) == 0
    spans = [json.loads(line) for line in api_alone.traces_file.read_text().splitlines()]
    names = [span["name"] for span in spans]
    assert names.count("POST /v1/schedules") == 1
    assert names.count("GET /v1/schedules/{schedule_id}") == 10


def test_serve_exports_the_payment_and_api_metrics_and_the_store_gauges(
    served_with_metrics: Served,
) -> None:
    served = served_with_metrics
    assert served.metrics_url is not None
    signer = DevelopmentSigner(served.directory / ".tsched")
    headers = {"Authorization": f"Bearer {signer.issue('alice', [Role.CUSTOMER], 'alice')}"}

    _transfer_in_3_seconds(served, headers)

    def sample(name: str, **labels: str) -> float | None:
        assert served.metrics_url is not None
        return _sample(httpx.get(served.metrics_url, timeout=5).text, name, labels)

    _until(lambda: sample("tsched_operations_outcomes_total", outcome="succeeded"), "paid")

    assert sample("tsched_operations_outcomes_total", outcome="succeeded") == 1
    assert (sample("tsched_operations_claimed_total") or 0) >= 1
    assert sample("tsched_operation_lateness_seconds_count") == 1
    assert sample("tsched_gateway_results_total", outcome="booked") == 1
    created = sample(
        "tsched_api_request_duration_seconds_count",
        http_request_method="POST",
        http_response_status_code="201",
        http_route="/v1/schedules",
    )
    assert created == 1
    assert sample("tsched_dispatch_lag_seconds") == 0
    assert sample("tsched_operations_stopped", status="dead") == 0
    assert sample("tsched_outbox_backlog") is not None
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=DEADLINE) == 0


def test_serve_writes_one_trace_from_the_callers_request_to_the_payment(
    served_with_traces: Served,
) -> None:
    served = served_with_traces
    signer = DevelopmentSigner(served.directory / ".tsched")
    headers = {
        "Authorization": f"Bearer {signer.issue('alice', [Role.CUSTOMER], 'alice')}",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }

    _transfer_in_3_seconds(served, headers)
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=DEADLINE) == 0

    spans = [json.loads(line) for line in served.traces_file.read_text().splitlines()]
    traced = [s for s in spans if s["context"]["trace_id"] == "0x4bf92f3577b34da6a3ce929d0e0e4736"]
    (request,) = [s for s in traced if s["name"] == "POST /v1/schedules"]
    (attempt,) = [s for s in traced if s["name"] == "execute execution"]
    assert request["parent_id"] == "0x00f067aa0ba902b7"
    assert request["kind"] == "SpanKind.SERVER"
    assert attempt["parent_id"] == request["context"]["span_id"]
    assert attempt["attributes"]["tsched.operation.status"] == "succeeded"
    assert attempt["resource"]["attributes"]["service.name"] == "tsched"


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _sample(text: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name` whose labels include `labels`, in Prometheus'
    text format; None when there is none."""
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if labels.items() <= found.items():
            return float(match["value"])
    return None
