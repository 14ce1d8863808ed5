"""Memory and speed of the history downloads: seed one customer's execution history
into a temporary SQLite store, download `/v1/history/export.csv` and `.pdf` through
the ASGI app, and report the peak memory Python allocated (tracemalloc) and rows/s.

The attempts are inserted straight into `execution_attempt` (one schedule and one
operation own them all), a chunk per transaction: the benchmark is about reading them.
The download is driven by a minimal ASGI client that counts each body chunk and drops
it, because httpx's ASGITransport and Starlette's TestClient keep the whole body, which
would be measured as the app's. Each export runs twice: timed without tracemalloc
(which slows Python severalfold), then traced for its peak.

    python -m bench.export_memory --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.types import ASGIApp, Message

from scheduler import bootstrap
from scheduler.adapters.sql import bulk, migrate, tables
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.api.exports import pdf_report
from scheduler.config import Settings
from scheduler.domain.money import Money

CUSTOMER = "bench-customer"
#: Attempts inserted per transaction while seeding.
SEED_CHUNK = 10_000
#: Every this many attempts one was declined, with text a CSV and a PDF must escape.
_DECLINED_EVERY = 7


def seed_attempts(
    engine: sa.Engine,
    customer_id: str,
    amounts: Iterable[Money],
    *,
    first_finished_at: datetime,
) -> None:
    """One schedule and one operation of `customer_id`, then an attempt at it for each
    amount, the n-th finished n seconds after `first_finished_at`."""
    schedule_id, operation_id = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        _insert_owner(connection, customer_id, schedule_id, operation_id, first_finished_at)
    numbered = enumerate(amounts)
    while chunk := list(itertools.islice(numbered, SEED_CHUNK)):
        rows = [
            _attempt(
                number,
                amount,
                customer_id=customer_id,
                schedule_id=schedule_id,
                operation_id=operation_id,
                first_finished_at=first_finished_at,
            )
            for number, amount in chunk
        ]
        with engine.begin() as connection:
            bulk.insert_rows(connection, tables.execution_attempt, rows)


def _insert_owner(
    connection: sa.Connection,
    customer_id: str,
    schedule_id: uuid.UUID,
    operation_id: uuid.UUID,
    at: datetime,
) -> None:
    accounts = {"debit_account": "GB-BENCH-DEBIT-0001", "credit_account": "GB-BENCH-PAYEE-0001"}
    money = {"amount": Decimal("1.00"), "currency": "GBP"}
    connection.execute(
        tables.schedule.insert().values(
            id=schedule_id,
            customer_id=customer_id,
            kind="recurring_payment",
            status="active",
            purpose="payment",
            time_zone="Europe/London",
            definition={},
            definition_version=1,
            next_index=None,
            channel="bench",
            created_at=at,
            updated_at=at,
            version=1,
            **accounts,
            **money,
        )
    )
    connection.execute(
        tables.operation.insert().values(
            id=operation_id,
            schedule_id=schedule_id,
            customer_id=customer_id,
            kind="execution",
            occurrence_index=0,
            reminder_offset="",
            nominal_date=date(at.year, at.month, at.day),
            execution_date=date(at.year, at.month, at.day),
            due_at=at,
            status="succeeded",
            available_at=at,
            attempts=0,
            declines=0,
            updated_at=at,
            **accounts,
            **money,
        )
    )


def _attempt(
    number: int,
    amount: Money,
    *,
    customer_id: str,
    schedule_id: uuid.UUID,
    operation_id: uuid.UUID,
    first_finished_at: datetime,
) -> dict[str, Any]:
    finished_at = first_finished_at + timedelta(seconds=number)
    declined = number % _DECLINED_EVERY == _DECLINED_EVERY - 1
    return {
        "operation_id": operation_id,
        "schedule_id": schedule_id,
        "customer_id": customer_id,
        "kind": "execution",
        "attempt": number + 1,
        "worker": "bench",
        "due_at": first_finished_at,
        "started_at": finished_at - timedelta(milliseconds=40),
        "finished_at": finished_at,
        "outcome": "retry_wait" if declined else "succeeded",
        "error_code": "insufficient_funds" if declined else None,
        "reason": 'Insufficient funds: "balance" (GBP) below the amount' if declined else None,
        "recommended_action": "=Top up the account, then wait for the retry" if declined else None,
        "gateway_reference": None if declined else f"GW-{number:09d}",
        "debit_account": "GB-BENCH-DEBIT-0001",
        "credit_account": "GB-BENCH-PAYEE-0001",
        "amount": amount.amount,
        "currency": amount.currency.code,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    """What a download answered, its body left to the chunk callback."""

    status: int
    headers: dict[str, str]


async def download(
    app: ASGIApp, url: str, headers: Mapping[str, str], on_chunk: Callable[[bytes], None]
) -> Answer:
    """GET `url` (path and query) from `app`, handing each body chunk to `on_chunk` as
    it arrives and keeping none."""
    parts = urlsplit(url)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    finished = asyncio.Event()
    requested = False
    start: dict[str, Any] = {}

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            if message.get("body"):
                on_chunk(message["body"])
            if not message.get("more_body", False):
                finished.set()

    await app(scope, receive, send)
    return Answer(
        status=start["status"],
        headers={name.decode(): value.decode() for name, value in start["headers"]},
    )


@dataclass(slots=True)
class _Tally:
    """What came of a download, chunk by chunk: enough to check it, nothing kept."""

    size: int = 0
    chunks: int = 0
    csv_lines: int = 0
    pdf_pages: int = 0
    ending: bytes = b""

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.chunks += 1
        self.csv_lines += chunk.count(b"\r\n")
        self.pdf_pages += chunk.count(b"/Type /Page /Parent")
        self.ending = chunk[-16:]

    def problem(self, name: str, rows: int) -> str | None:
        """What is wrong with the download of `rows` rows as `name`, if anything."""
        if name == "csv" and self.csv_lines != rows + 1:
            return f"{self.csv_lines} CSV lines, not {rows + 1}"
        pages = pdf_report.page_count(rows)
        if name == "pdf" and (self.pdf_pages != pages or not self.ending.endswith(b"%%EOF\n")):
            return f"{self.pdf_pages} PDF pages, not {pages}, or no %%EOF at the end"
        return None


@dataclass(frozen=True, slots=True)
class Measurement:
    """One export's figures."""

    name: str
    rows: int
    size: int
    chunks: int
    seconds: float
    peak: int

    def line(self) -> str:
        """The measurement as one line of the report."""
        return (
            f"{self.name}: {self.rows:,} rows, {self.size / 2**20:.1f} MiB in {self.chunks:,}"
            f" chunks, {self.seconds:.2f} s ({self.rows / self.seconds:,.0f} rows/s);"
            f" peak traced memory {self.peak / 2**20:.2f} MiB"
        )


def measure(
    app: ASGIApp, name: str, url: str, headers: Mapping[str, str], rows: int
) -> Measurement:
    """Download `url` twice: timed and checked, then under tracemalloc for the peak."""
    tally = _Tally()
    gc.collect()
    started = time.perf_counter()
    answer = asyncio.run(download(app, url, headers, tally.add))
    seconds = time.perf_counter() - started
    problem = f"answered {answer.status}" if answer.status != 200 else tally.problem(name, rows)
    if problem:
        raise RuntimeError(f"{url}: {problem}")
    gc.collect()
    tracemalloc.start()
    try:
        asyncio.run(download(app, url, headers, lambda _chunk: None))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Measurement(name, rows, tally.size, tally.chunks, seconds, peak)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="attempts to seed and export")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tsched-bench-export-") as directory:
        settings = Settings(database_url=f"sqlite:///{directory}/export.sqlite3")
        runtime = bootstrap.build(settings, worker="bench-export")
        try:
            migrate.upgrade(runtime.engine)
            started = time.perf_counter()
            amounts = (
                Money.of(Decimal(100 + number % 99_900).scaleb(-2), "GBP")
                for number in range(args.rows)
            )
            seed_attempts(
                runtime.engine,
                CUSTOMER,
                amounts,
                first_finished_at=datetime(2027, 1, 1, tzinfo=UTC),
            )
            print(f"seeded {args.rows:,} attempts in {time.perf_counter() - started:.1f} s")
            signer = DevelopmentSigner(Path(directory))
            app = create_app(runtime, signer.verifier())
            token = signer.issue(CUSTOMER, [Role.CUSTOMER], customer_id=CUSTOMER)
            headers = {"Authorization": f"Bearer {token}"}
            for name in ("csv", "pdf"):
                result = measure(app, name, f"/v1/history/export.{name}", headers, args.rows)
                print(result.line(), flush=True)
            print(f"pdf pages: {pdf_report.page_count(args.rows):,}")
        finally:
            runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
