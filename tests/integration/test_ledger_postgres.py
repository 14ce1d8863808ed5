"""The embedded ledger under concurrent workers on real PostgreSQL: no deadlock, nothing
lost or doubled, and a key booked at most once however many workers send it."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import pytest
import sqlalchemy as sa

from scheduler import ports
from scheduler.adapters import ledger
from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import tables
from scheduler.domain.money import Money
from tests.services import postgres
from tests.support.clock import SettableClock

pytestmark = pytest.mark.integration

ACCOUNTS = ("ACC-A", "ACC-B", "ACC-C", "ACC-D")
WORKERS = 4
BATCHES_PER_WORKER = 25
_T = TypeVar("_T")


@pytest.fixture(scope="module")
def ledger_url(postgres_url: str) -> Iterator[str]:
    """A database of this module's own on the session's cluster, dropped afterwards."""
    with postgres.scratch_database(postgres_url, "ledger") as url:
        yield url


@pytest.fixture
def engine(ledger_url: str) -> Iterator[sa.Engine]:
    engine = sql_engine.create_engine(ledger_url)
    tables.metadata.drop_all(engine)
    tables.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def book(engine: sa.Engine) -> ledger.Ledger:
    """Four EUR accounts holding 1000.00 each."""
    book = ledger.Ledger(engine, SettableClock(datetime(2027, 3, 1, 9, 0, tzinfo=UTC)))
    for account in ACCOUNTS:
        book.open_account(account, "customer", "EUR", opening_balance=Money.of("1000.00", "EUR"))
    return book


def _request(debit: str, credit: str, amount: str, key: str | None = None) -> ports.TransferRequest:
    return ports.TransferRequest(
        idempotency_key=key or str(uuid.uuid4()),
        debit_account=debit,
        credit_account=credit,
        amount=Money.of(amount, "EUR"),
        reference="concurrency test",
    )


def _ring(accounts: Sequence[str]) -> list[tuple[str, str]]:
    """Transfers from each account to the next, the last paying the first."""
    return list(zip(accounts, [*accounts[1:], accounts[0]], strict=True))


def _together(jobs: Sequence[Callable[[], _T]]) -> list[_T]:
    """Run `jobs` on their own threads, released at the same moment; re-raise failures."""
    start = threading.Barrier(len(jobs), timeout=30)

    def released(job: Callable[[], _T]) -> _T:
        start.wait()
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(released, job) for job in jobs]
        return [future.result(timeout=120) for future in futures]


def _in_two_batches(
    book: ledger.Ledger, requests: Sequence[ports.TransferRequest]
) -> list[ports.TransferResult]:
    half = len(requests) // 2
    return book.transfer_many(requests[:half]) + book.transfer_many(requests[half:])


def _entry_count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        count: int = connection.execute(
            sa.select(sa.func.count()).select_from(tables.ledger_entry)
        ).scalar_one()
    return count


def test_workers_booking_in_opposite_orders_never_deadlock_and_the_ledger_reconciles(
    book: ledger.Ledger, engine: sa.Engine
) -> None:
    # Rings A->B->C->D->A and D->C->B->A->D: locking in request order would deadlock.
    backwards = ACCOUNTS[::-1]
    orders = [_ring(ACCOUNTS), _ring(backwards)] * (WORKERS // 2)

    def worker(pairs: list[tuple[str, str]]) -> list[ports.TransferResult]:
        results: list[ports.TransferResult] = []
        for batch in range(BATCHES_PER_WORKER):
            amount = f"{(batch % 7) * 200 + 1}.25"  # up to 1201.25: some are declined
            results += book.transfer_many([_request(d, c, amount) for d, c in pairs])
        return results

    per_worker = _together([functools.partial(worker, order) for order in orders])
    results = [result for worker_results in per_worker for result in worker_results]

    outcomes = {r.outcome for r in results}
    booked = [r for r in results if r.outcome is ports.TransferOutcome.BOOKED]
    assert len(results) == WORKERS * BATCHES_PER_WORKER * len(ACCOUNTS)
    assert outcomes <= {ports.TransferOutcome.BOOKED, ports.TransferOutcome.DECLINED_RETRYABLE}
    assert ports.TransferOutcome.BOOKED in outcomes
    assert len({r.reference for r in booked}) == len(booked)
    report = book.reconcile()
    assert report.ok, report
    assert report.entries == _entry_count(engine) == len(booked) + len(ACCOUNTS)
    balances = [book.balance(account).amount for account in ACCOUNTS]
    assert sum(balances) == Decimal("4000.00")
    assert min(balances) >= 0


def test_the_same_keys_sent_by_two_workers_at_once_book_exactly_once(
    book: ledger.Ledger, engine: sa.Engine
) -> None:
    for round_no in range(5):
        requests = [
            _request(ACCOUNTS[i % 4], ACCOUNTS[(i + 1) % 4], "1.00", f"op-{round_no}-{i}")
            for i in range(20)
        ]
        # The second worker sends the same keys in reverse order, in two batches.
        first, second = _together(
            [
                functools.partial(book.transfer_many, requests),
                functools.partial(_in_two_batches, book, requests[::-1]),
            ]
        )

        assert {r.outcome for r in first} == {ports.TransferOutcome.BOOKED}
        assert [r.reference for r in first] == [r.reference for r in reversed(second)]

    assert _entry_count(engine) == len(ACCOUNTS) + 5 * 20
    assert [book.balance(a).amount for a in ACCOUNTS] == [Decimal("1000.00")] * 4
    assert book.reconcile().ok
