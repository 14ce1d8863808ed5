"""HTTP API benchmark: latency and throughput of `tsched serve`'s API, concurrent clients.

One `tsched serve` process (the product's own command: uvicorn over TCP on 127.0.0.1,
on a thread beside the dispatcher loop), or with `--api-workers N` the API apart as
`tsched api --workers N` beside `tsched serve --no-api`, runs on a fresh store: a
throwaway PostgreSQL cluster (or a SQLite file). Each of `--clients` concurrent clients
(one `httpx.AsyncClient` with a pool of as many connections, on this process's event
loop) acts as its own customer, with a development token: with no identity provider
configured, the API trusts the key `tsched token` keeps in `.tsched/` of its working
directory, so the benchmark runs the servers in a scratch directory and signs with a
key there. By default every client sends its share of a
scenario's requests one after another, with no pause (a closed loop: 50 clients keep 50
requests in flight, which measures the server's capacity, and latency is mostly
queueing once it is reached); with `--rate R` requests arrive at R per second in all,
each when its time comes, from the clients in turn (an open loop, which measures latency
at that load). A request is timed from its start to the last byte of its body, after a
warm-up. A non-2xx answer is an error (the first few are printed) and is left out of
the percentiles.

- create: `POST /v1/schedules`, a one-time transfer and a monthly recurring payment in
  turn (due in 30 days, default reminders), each with its own Idempotency-Key, debiting
  the customer's account in the embedded ledger;
- cancel: `POST /v1/schedules/{id}/cancel` of the schedules the create scenario made;
- history: `GET /v1/history` reads of 1,000 rows (one page of `limit=1000`, the most a
  page holds; with a smaller maximum a read would follow `next_cursor`, its time the sum
  of its pages');
- exports: `GET /v1/history/export.csv` and `.pdf` with the same filters (1,000 rows);
  a route answering 404 is skipped with a note.

The history is real: before measuring, 1,000 one-time transfers per customer are
created through the product's `create_schedule` use case (`bench.workload`), due at
once, and the serve process's dispatcher executes them through the embedded ledger,
writing one execution-history row each.

Beside the latencies, the CPU each request cost while measuring, read from /proc
(Linux): the serve process's, PostgreSQL's (the postmaster and its backends), this
process's (the clients') and anything else's, which shows whether the machine was quiet.

    python -m bench.api                          # PostgreSQL, 50 clients (about 5 min)
    python -m bench.api --rate 50                # the same clients, 50 requests/s in all
    python -m bench.api --api-workers 2          # the API in two processes of its own
    python -m bench.api --store sqlite --clients 10 --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import workload
from scheduler.adapters.sql import migrate, tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.api.history_routes import MAX_HISTORY_PAGE
from tests.services import process
from tests.services.postgres import APP_DATABASE, PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Execution-history rows seeded per customer, and rows one history read or export holds.
HISTORY_ROWS = 1_000
#: Rows per history page: the API's page maximum (or all 1,000 rows, were it larger).
PAGE = min(MAX_HISTORY_PAGE, HISTORY_ROWS)
#: Requests per scenario unless `--requests` says otherwise.
DEFAULT_REQUESTS = {"create": 2_000, "cancel": 2_000, "history": 500, "export": 500}
#: Errors printed per scenario.
ERROR_SAMPLES = 3
SERVE_START_TIMEOUT = 60.0
SERVE_STOP_TIMEOUT = 60.0
SEEDED_HISTORY_TIMEOUT = 600.0
KEEPALIVE_SECONDS = 4.0
_TICKS = os.sysconf("SC_CLK_TCK")

Call = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Target:
    """A latency target from the issue, judged on the p95."""

    label: str
    ms: float


@dataclass(frozen=True, slots=True)
class Cpu:
    """Seconds: elapsed (`wall`), busy on all the machine's CPUs, and used by the serve
    process, by PostgreSQL (the postmaster and its backends) and by this process (the
    clients)."""

    wall: float
    machine: float
    serve: float
    postgres: float
    client: float

    @classmethod
    def now(cls, server_pids: Sequence[int], postmaster_pid: int | None) -> Cpu:
        with open("/proc/stat") as file:
            user, nice, system, _idle, _iowait, *rest = map(int, file.readline().split()[1:9])
        trees = _ProcessTrees()
        return cls(
            wall=time.perf_counter(),
            machine=(user + nice + system + sum(rest)) / _TICKS,
            serve=sum(trees.cpu(pid) for pid in server_pids),
            postgres=trees.cpu(postmaster_pid) if postmaster_pid is not None else 0.0,
            client=time.process_time(),
        )

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            wall=self.wall - other.wall,
            machine=self.machine - other.machine,
            serve=self.serve - other.serve,
            postgres=self.postgres - other.postgres,
            client=self.client - other.client,
        )


class _ProcessTrees:
    """The machine's processes as /proc shows them now."""

    def __init__(self) -> None:
        self._stats: dict[int, list[str]] = {}
        self._children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # The fields after the command name, from the 3rd (state).
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            self._stats[int(entry.name)] = fields
            self._children.setdefault(int(fields[1]), []).append(int(entry.name))

    def cpu(self, pid: int) -> float:
        """CPU seconds of `pid` and its descendants, living or exited (utime, stime,
        cutime and cstime: the 14th to 17th fields)."""
        own = sum(int(value) for value in self._stats.get(pid, [])[11:15]) / _TICKS
        return own + sum(self.cpu(child) for child in self._children.get(pid, []))


@dataclass(slots=True)
class Tally:
    """What one scenario measured: latencies of the 2xx answers (ms), errors, and the
    CPU its measured phase used."""

    name: str
    target: Target | None = None
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cpu: Cpu | None = None
    samples: list[str] = field(default_factory=list)

    def success(self, ms: float) -> None:
        self.latencies.append(ms)

    def failure(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < ERROR_SAMPLES:
            self.samples.append(what)

    def reset(self) -> None:
        self.latencies.clear()
        self.errors = 0
        self.samples.clear()

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    def line(self) -> str:
        """Requests, errors, throughput, latency percentiles and the target."""
        if self.cpu is None or len(self.latencies) < 2:
            return f"{self.name:<42} {self.requests:>8,} {self.errors:>7,}   (too few answers)"
        p = statistics.quantiles(self.latencies, n=100, method="inclusive")
        verdict = ""
        if self.target is not None:
            verdict = f"{self.target.label:<9} {'met' if p[94] < self.target.ms else 'MISSED'}"
        return (
            f"{self.name:<42} {self.requests:>8,} {self.errors:>7,} "
            f"{self.requests / self.cpu.wall:>8.1f} {p[49]:>8.1f} {p[94]:>8.1f} {p[98]:>8.1f}   "
            f"{verdict}"
        )

    def cpu_line(self) -> str:
        """CPU milliseconds per request: serve, PostgreSQL, clients, anything else; and
        how busy the machine was."""
        if self.cpu is None or not self.requests:
            return f"{self.name:<42} (not measured)"
        cpu = self.cpu
        # Never below zero: /proc/stat and the processes' times round to a tick apart.
        other = max(0.0, cpu.machine - cpu.serve - cpu.postgres - cpu.client)
        shares = (cpu.serve, cpu.postgres, cpu.client, other)
        busy = cpu.machine / (cpu.wall * (os.cpu_count() or 1))
        per_request = "".join(f" {seconds * 1000 / self.requests:>8.2f}" for seconds in shares)
        return f"{self.name:<42}{per_request} {busy:>8.0%}"


HEADER = (
    f"{'scenario':<42} {'requests':>8} {'errors':>7} {'req/s':>8} {'p50 ms':>8} "
    f"{'p95 ms':>8} {'p99 ms':>8}   target (issue, on p95)"
)
CPU_HEADER = (
    "CPU per request while measuring, in ms: the serve process, PostgreSQL, the clients\n"
    "(this process) and anything else running; busy: share of all CPUs in use\n"
    f"{'scenario':<42} {'serve':>8} {'postgres':>8} {'clients':>8} {'other':>8} {'busy':>8}"
)


@dataclass(frozen=True, slots=True)
class Customer:
    """One client's customer: the debit account it holds and its bearer token."""

    debit_account: str
    headers: dict[str, str]


@dataclass(slots=True)
class Bench:
    """The served API (and the processes whose CPU is measured), its customers and the
    seeded history's time window."""

    client: httpx.AsyncClient
    server_pids: list[int]
    postmaster_pid: int | None
    customers: list[Customer]
    window: dict[str, str]
    credit_account: str
    #: Ids of the schedules each client created, for the cancel scenario.
    created: list[list[str]] = field(default_factory=list)

    async def send(
        self, tally: Tally, method: str, url: str, **kwargs: Any
    ) -> tuple[httpx.Response, float] | None:
        """The response and its latency (ms), if 2xx, the latency recorded in `tally`;
        else None, the error recorded."""
        began = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            tally.failure(f"{method} {url}: {error!r}")
            return None
        ms = (time.perf_counter() - began) * 1000
        if response.is_success:
            tally.success(ms)
            return response, ms
        tally.failure(f"{method} {url} -> {response.status_code} {response.text[:300]}")
        return None


def _schedule_document(bench: Bench, customer: Customer, number: int) -> dict[str, Any]:
    """A one-time transfer (even `number`) or a monthly recurring payment (odd), due in
    30 days, with the default reminders."""
    document: dict[str, Any] = {
        "kind": "one_time_transfer",
        "debit_account": customer.debit_account,
        "credit_account": bench.credit_account,
        "amount": {"value": "25.00", "currency": "EUR"},
        "start_date": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
        "time_of_day": "09:30:00",
        "time_zone": "Europe/Berlin",
        "reference": f"bench api {number}",
    }
    if number % 2:
        document["kind"] = "recurring_payment"
        document["recurrence"] = {"frequency": "monthly", "count": 12}
    return document


def _idempotent(customer: Customer) -> dict[str, str]:
    return customer.headers | {"Idempotency-Key": uuid.uuid4().hex}


def _create(bench: Bench, tally: Tally) -> Call:
    async def call(client: int, number: int) -> None:
        customer = bench.customers[client]
        answer = await bench.send(
            tally,
            "POST",
            "/v1/schedules",
            json=_schedule_document(bench, customer, number),
            headers=_idempotent(customer),
        )
        if answer is not None:
            bench.created[client].append(answer[0].json()["id"])

    return call


def _cancel(bench: Bench, tally: Tally) -> Call:
    async def call(client: int, _number: int) -> None:
        if not bench.created[client]:
            tally.failure(f"client {client} has no schedule left to cancel")
            return
        schedule_id = bench.created[client].pop()
        url = f"/v1/schedules/{schedule_id}/cancel"
        await bench.send(tally, "POST", url, headers=_idempotent(bench.customers[client]))

    return call


def _history(bench: Bench, pages: Tally, reads: Tally) -> Call:
    """Read the customer's 1,000 rows a page at a time; a read's time is the sum of its
    pages' latencies."""

    async def call(client: int, _number: int) -> None:
        headers = bench.customers[client].headers
        params = bench.window | {"limit": str(PAGE)}
        rows, total_ms = 0, 0.0
        while True:
            answer = await bench.send(pages, "GET", "/v1/history", params=params, headers=headers)
            if answer is None:
                reads.failure("a page failed (see the page errors)")
                return
            body = answer[0].json()
            rows += len(body["items"])
            total_ms += answer[1]
            if body["next_cursor"] is None:
                break
            params = params | {"cursor": body["next_cursor"]}
        if rows != HISTORY_ROWS:
            reads.failure(f"client {client} read {rows} rows, not {HISTORY_ROWS}")
            return
        reads.success(total_ms)

    return call


def _export(bench: Bench, tally: Tally, url: str) -> Call:
    async def call(client: int, _number: int) -> None:
        headers = bench.customers[client].headers
        await bench.send(tally, "GET", url, params=bench.window, headers=headers)

    return call


async def _closed_loop(clients: int, requests: int, call: Call) -> None:
    """`requests` calls spread over `clients`, each sending its share one after another."""

    async def one_client(client: int) -> None:
        for number in range(client, requests, clients):
            await call(client, number)

    await asyncio.gather(*(one_client(client) for client in range(clients)))


async def _open_loop(clients: int, requests: int, rate: float, call: Call) -> None:
    """`requests` calls arriving at `rate` per second in all, each at its own time
    whether or not earlier ones have been answered, from the `clients` in turn."""
    began = time.perf_counter()
    sent: list[asyncio.Future[None]] = []
    for number in range(requests):
        delay = began + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(asyncio.ensure_future(call(number % clients, number)))
    await asyncio.gather(*sent)


async def _measure(
    bench: Bench, args: argparse.Namespace, requests: int, call: Call, tallies: Sequence[Tally]
) -> None:
    """Warm up with `--warmup` calls, forget them, then measure `requests` calls: in a
    closed loop, or arriving at `--rate` per second."""
    clients = len(bench.customers)

    async def run(count: int) -> None:
        if args.rate is None:
            await _closed_loop(clients, count, call)
        else:
            await _open_loop(clients, count, args.rate, call)

    await run(args.warmup)
    for tally in tallies:
        tally.reset()
    before = Cpu.now(bench.server_pids, bench.postmaster_pid)
    await run(requests)
    used = Cpu.now(bench.server_pids, bench.postmaster_pid) - before
    for tally in tallies:
        tally.cpu = used
        print(tally.line(), flush=True)


async def _export_found(bench: Bench, url: str) -> bool:
    """Whether `url` is there; a note says what one download holds, or that it answers
    404 and is skipped."""
    headers = bench.customers[0].headers
    response = await bench.client.get(url, params=bench.window, headers=headers)
    if response.status_code == 404:
        print(f"skipped: GET {url} answers 404 (the route is not there yet)", flush=True)
        return False
    size = f"{response.status_code}, {len(response.content) / 1024:,.0f} KiB"
    if url.endswith(".csv"):
        size += f", {response.text.count(chr(10)) - 1:,} rows after the header"
    print(f"one GET {url}: {size}", flush=True)
    return True


async def _run_scenarios(bench: Bench, args: argparse.Namespace) -> list[Tally]:

    def requests(scenario: str) -> int:
        return int(args.requests or DEFAULT_REQUESTS[scenario])

    create = Tally("create   POST /v1/schedules", Target("< 25 ms", 25))
    cancel = Tally("cancel   POST /v1/schedules/{id}/cancel")
    pages = Tally(f"history  GET /v1/history, a page of {PAGE}")
    reads = Tally(
        f"history  {HISTORY_ROWS:,} rows = {math.ceil(HISTORY_ROWS / PAGE)} pages (summed)",
        Target("< 100 ms", 100),
    )
    print(HEADER, flush=True)
    await _measure(bench, args, requests("create"), _create(bench, create), [create])
    await _measure(bench, args, requests("cancel"), _cancel(bench, cancel), [cancel])
    await _measure(bench, args, requests("history"), _history(bench, pages, reads), [pages, reads])
    tallies = [create, cancel, pages, reads]
    for suffix, target in (("csv", Target("< 200 ms", 200)), ("pdf", Target("< 1 s", 1000))):
        url = f"/v1/history/export.{suffix}"
        if await _export_found(bench, url):
            tally = Tally(f"export   GET {url}", target)
            await _measure(bench, args, requests("export"), _export(bench, tally, url), [tally])
            tallies.append(tally)
    return tallies


async def _benchmark(
    served: Served,
    customers: list[Customer],
    window: dict[str, str],
    credit_account: str,
    args: argparse.Namespace,
) -> list[Tally]:
    limits = httpx.Limits(
        max_connections=args.clients,
        max_keepalive_connections=args.clients,
        # Below uvicorn's 5 s: a connection left idle (between phases) is dropped here
        # first, never reused just as the server closes it.
        keepalive_expiry=KEEPALIVE_SECONDS,
    )
    async with httpx.AsyncClient(base_url=served.base_url, limits=limits, timeout=60.0) as client:
        bench = Bench(
            client=client,
            server_pids=[popen.pid for popen in served.processes],
            postmaster_pid=_postmaster_pid(served.database_url),
            customers=customers,
            window=window,
            credit_account=credit_account,
            created=[[] for _ in customers],
        )
        return await _run_scenarios(bench, args)


def _customers(work: workload.Workload, key_dir: Path) -> list[Customer]:
    """One customer per debit account of `work`, with a token signed by the key in
    `key_dir` (the one serve trusts)."""
    signer = DevelopmentSigner(key_dir)
    customers = []
    for index in range(work.debit_accounts):
        customer_id = work.transfer(index).customer_id
        token = signer.issue(customer_id, [Role.CUSTOMER], customer_id, timedelta(hours=2))
        customers.append(
            Customer(
                debit_account=work.debit_account(index),
                headers={"Authorization": f"Bearer {token}"},
            )
        )
    return customers


@contextmanager
def _store(store: str) -> Iterator[str]:
    """The URL of a fresh, migrated store; a throwaway PostgreSQL cluster is stopped
    and removed on exit."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tsched-bench-api-") as directory:
            url = f"sqlite:///{directory}/bench.sqlite3"
            migrate.upgrade(url)
            yield url
        return
    server = PostgresServer()
    try:
        server.start()
        url = server.url_for(APP_DATABASE)
        migrate.upgrade(url)
        yield url
    finally:
        server.close()


@dataclass(frozen=True, slots=True)
class Served:
    """The server processes: `tsched serve`, and `tsched api` when the API runs apart."""

    base_url: str
    database_url: str
    processes: list[subprocess.Popen[bytes]]
    log_path: Path


@contextmanager
def _serving(url: str, directory: Path, api_workers: int) -> Iterator[Served]:
    """`tsched serve` with its API on a free port, or with `api_workers`, `tsched serve
    --no-api` beside `tsched api --workers api_workers`; run in `directory` (so the API
    trusts the development key there); stopped with SIGTERM on exit, killed if hung."""
    (port,) = process.free_ports(1)
    command = [sys.executable, "-m", "scheduler.cli"]
    commands = [[*command, "serve", "--quiet", "--no-migrate", "--api-port", str(port)]]
    if api_workers:
        commands = [
            [*command, "serve", "--quiet", "--no-migrate", "--no-api"],
            [*command, "api", "--port", str(port), "--workers", str(api_workers)],
        ]
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": url,
    }
    log_path = directory / "serve.log"
    with log_path.open("wb") as log:
        popens = [
            subprocess.Popen(argv, cwd=directory, env=env, stdout=log, stderr=log)  # noqa: S603
            for argv in commands
        ]
    served = Served(f"http://127.0.0.1:{port}", url, popens, log_path)
    try:
        _wait_ready(served)
        yield served
    finally:
        for popen in popens:
            popen.send_signal(signal.SIGTERM)
        for popen in popens:
            try:
                popen.wait(timeout=SERVE_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()


def _wait_ready(served: Served) -> None:
    deadline = time.monotonic() + SERVE_START_TIMEOUT
    while time.monotonic() < deadline:
        _require_running(served)
        try:
            if httpx.get(f"{served.base_url}/v1/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"tsched serve did not answer ready:\n{process.tail(served.log_path)}")


def _require_running(served: Served) -> None:
    for popen in served.processes:
        if popen.poll() is None:
            continue
        log = process.tail(served.log_path)
        raise RuntimeError(f"a server process exited with {popen.returncode}:\n{log}")


def _seed_history(url: str, clients: int) -> workload.Workload:
    """Open a funded debit account per client and create 1,000 one-time transfers per
    client's customer through `create_schedule`, all due now."""
    work = workload.Workload(
        transfers=clients * HISTORY_ROWS, due_at=datetime.now(UTC), debit_accounts=clients
    )
    engine = create_engine(url)
    try:
        workload.seed(engine, work, processes=2)
    finally:
        engine.dispose()
    return work


def _wait_until_executed(url: str, served: Served) -> None:
    """Until the dispatcher has executed every seeded transfer and sealed every audit
    record, then bring the planner's statistics up to date (as autovacuum would)."""
    o, a = tables.operation.c, tables.audit_record.c
    open_operation = sa.select(o.id).where(o.status.in_(workload.OPEN_STATUSES)).limit(1)
    unsealed = sa.select(a.seq).where(a.block_no.is_(None)).limit(1)
    deadline = time.monotonic() + SEEDED_HISTORY_TIMEOUT
    engine = create_engine(url)
    try:
        while True:
            _require_running(served)
            with engine.connect() as connection:
                if all(connection.execute(q).first() is None for q in (open_operation, unsealed)):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the seeded transfers were not executed in time")
            time.sleep(0.5)
        _analyze(engine)
    finally:
        engine.dispose()


def _analyze(engine: sa.Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def _postmaster_pid(url: str) -> int | None:
    """The pid of the PostgreSQL server behind `url` (the parent of every backend);
    None for SQLite."""
    engine = create_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            return None
        with engine.connect() as connection:
            backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            # Read while connected: the backend exits with the connection. In
            # /proc/<pid>/stat the parent's pid is the 4th field.
            stat = Path(f"/proc/{backend}/stat").read_text()
    finally:
        engine.dispose()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _store_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                return f"SQLite {connection.exec_driver_sql('SELECT sqlite_version()').scalar()}"
            return f"PostgreSQL {connection.exec_driver_sql('SHOW server_version').scalar()}"
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    with _store(args.store) as url, tempfile.TemporaryDirectory(prefix="tsched-bench-") as cwd:
        directory = Path(cwd)
        _print_setting(url, args)
        began = time.perf_counter()
        work = _seed_history(url, args.clients)
        window_from = datetime.now(UTC)
        customers = _customers(work, directory / ".tsched")
        with _serving(url, directory, args.api_workers) as served:
            _wait_until_executed(url, served)
            window = {"from": window_from.isoformat(), "to": datetime.now(UTC).isoformat()}
            print(
                f"history: {work.transfers:,} one-time transfers ({HISTORY_ROWS:,} per "
                "customer) created through create_schedule, executed by serve's dispatcher: "
                f"{time.perf_counter() - began:.0f} s",
                flush=True,
            )
            payee = work.credit_account("EUR", 0)
            tallies = asyncio.run(_benchmark(served, customers, window, payee, args))
        _print_cpu(tallies)
        _print_errors(tallies, served.log_path)
    return 0


def _print_setting(url: str, args: argparse.Namespace) -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    rate, clients = args.rate, args.clients
    arrivals = "closed loop" if rate is None else f"open loop, {rate:g} requests/s in all"
    server = (
        f"`tsched api --workers {args.api_workers}` beside `tsched serve --no-api`"
        if args.api_workers
        else "one `tsched serve` process, its API one uvicorn worker on a thread beside "
        "the dispatcher loop"
    )
    print(
        f"machine: {os.cpu_count()} CPUs (load average before the run {load}), "
        f"Python {platform.python_version()}\n"
        f"store: {_store_version(url)}\n"
        f"server: {server}\n"
        f"clients: {clients} concurrent, {arrivals}, one httpx.AsyncClient with a pool of "
        f"{clients} connections, on the same machine",
        flush=True,
    )


def _print_cpu(tallies: Sequence[Tally]) -> None:
    print(CPU_HEADER)
    for tally in tallies:
        print(tally.cpu_line())


def _print_errors(tallies: Sequence[Tally], log_path: Path) -> None:
    for tally in tallies:
        for sample in tally.samples:
            print(f"error in {tally.name}: {sample}")
    if any(tally.errors for tally in tallies):
        print(f"last lines of serve's log:\n{process.tail(log_path)}")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--requests",
        type=int,
        help="measured requests per scenario (default: 2,000 for create and cancel, "
        "500 history reads of 1,000 rows, 500 per export)",
    )
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=0,
        help="run the API apart, as `tsched api --workers N` beside `tsched serve --no-api` "
        "(default 0: the API thread inside `tsched serve`)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="requests per second arriving in all (an open loop, so latency is measured "
        "below saturation); default: a closed loop, each client sending back to back",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
