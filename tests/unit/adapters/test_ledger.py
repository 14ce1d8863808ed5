"""The embedded ledger on a SQLite file: money moves once, balances always reconcile."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler import ports
from scheduler.adapters import ledger
from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import tables
from scheduler.domain import errors
from scheduler.domain.money import Money
from tests.support.clock import SettableClock

BOOKED = ports.TransferOutcome.BOOKED
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sql_engine.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    tables.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def book(engine: sa.Engine) -> ledger.Ledger:
    """A ledger with ALICE (EUR 100.00), BOB (EUR 0.00) and CAROL (USD 50.00)."""
    book = ledger.Ledger(engine, SettableClock(NOW))
    book.open_account("ALICE", "customer-1", "EUR", opening_balance=Money.of("100.00", "EUR"))
    book.open_account("BOB", "customer-2", "EUR")
    book.open_account("CAROL", "customer-3", "USD", opening_balance=Money.of("50.00", "USD"))
    return book


@pytest.fixture
def transfer() -> Callable[..., ports.TransferRequest]:
    """A request for EUR 30.00 from ALICE to BOB with a fresh key, unless overridden."""

    def make(
        amount: str = "30.00", currency: str = "EUR", **overrides: str
    ) -> ports.TransferRequest:
        fields = {
            "idempotency_key": str(uuid.uuid4()),
            "debit_account": "ALICE",
            "credit_account": "BOB",
            "reference": "rent",
        }
        fields.update(overrides)
        return ports.TransferRequest(amount=Money.of(amount, currency), **fields)

    return make


def _entry_count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        count: int = connection.execute(
            sa.select(sa.func.count()).select_from(tables.ledger_entry)
        ).scalar_one()
    return count


def test_booking_moves_money_and_the_balances_add_up(
    book: ledger.Ledger, engine: sa.Engine, transfer: Callable[..., ports.TransferRequest]
) -> None:
    (result,) = book.transfer_many([transfer(amount="30.00")])

    assert result.outcome is BOOKED
    assert book.balance("ALICE") == Money.of("70.00", "EUR")
    assert book.balance("BOB") == Money.of("30.00", "EUR")
    assert book.balance("EQUITY-EUR") == Money.of("-100.00", "EUR")
    with engine.connect() as connection:
        entry = connection.execute(
            sa.select(tables.ledger_entry).where(
                tables.ledger_entry.c.id == uuid.UUID(result.reference)
            )
        ).one()
    assert (entry.debit_account, entry.credit_account, entry.amount, entry.currency) == (
        "ALICE",
        "BOB",
        Decimal("30.00"),
        "EUR",
    )
    assert (entry.reference, entry.booked_at) == ("rent", NOW)
    assert book.reconcile() == ledger.Reconciliation(
        entries=3,
        totals_by_currency={"EUR": Decimal(0), "USD": Decimal(0)},
        mismatched_accounts=(),
    )
    assert book.reconcile().ok


def test_a_repeated_key_returns_the_first_entry_and_moves_nothing(
    book: ledger.Ledger, engine: sa.Engine, transfer: Callable[..., ports.TransferRequest]
) -> None:
    request = transfer(amount="30.00")
    (first,) = book.transfer_many([request])

    again = book.transfer_many([request])
    twice_in_one_batch = book.transfer_many([request, request])

    assert again == [first]
    assert twice_in_one_batch == [first, first]
    assert book.balance("ALICE") == Money.of("70.00", "EUR")
    assert _entry_count(engine) == 3


def test_the_same_key_twice_in_a_new_batch_books_once(
    book: ledger.Ledger, engine: sa.Engine, transfer: Callable[..., ports.TransferRequest]
) -> None:
    request = transfer(amount="10.00")

    first, second = book.transfer_many([request, request])

    assert first.outcome is BOOKED
    assert second == first
    assert book.balance("BOB") == Money.of("10.00", "EUR")
    assert _entry_count(engine) == 3


def test_a_key_reused_for_other_money_is_rejected_and_moves_nothing(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    book.transfer_many([transfer(amount="30.00", idempotency_key="op-1")])

    (result,) = book.transfer_many([transfer(amount="31.00", idempotency_key="op-1")])

    assert (result.outcome, result.code) == (
        ports.TransferOutcome.REJECTED,
        "idempotency_key_reused",
    )
    assert book.balance("ALICE") == Money.of("70.00", "EUR")


def test_insufficient_funds_are_declined_as_retryable_and_nothing_changes(
    book: ledger.Ledger, engine: sa.Engine, transfer: Callable[..., ports.TransferRequest]
) -> None:
    (result,) = book.transfer_many([transfer(amount="100.01")])

    assert result == ports.TransferResult(
        outcome=ports.TransferOutcome.DECLINED_RETRYABLE,
        code="insufficient_funds",
        reason="the balance and arranged overdraft do not cover the amount",
    )
    assert book.balance("ALICE") == Money.of("100.00", "EUR")
    assert book.balance("BOB") == Money.of("0.00", "EUR")
    assert _entry_count(engine) == 2


def test_a_declined_key_can_book_once_the_money_is_there(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    request = transfer(amount="150.00")
    (declined,) = book.transfer_many([request])

    book.deposit("ALICE", Money.of("50.00", "EUR"))
    (retried,) = book.transfer_many([request])

    assert declined.outcome is ports.TransferOutcome.DECLINED_RETRYABLE
    assert retried.outcome is BOOKED
    assert book.balance("ALICE") == Money.of("0.00", "EUR")
    assert book.reconcile().ok


def test_the_overdraft_limit_is_honoured_to_the_cent(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    book.open_account("DAVE", "customer-4", "EUR", overdraft_limit=Money.of("25.00", "EUR"))

    up_to_limit = book.transfer_many([transfer(amount="25.00", debit_account="DAVE")])
    past_limit = book.transfer_many([transfer(amount="0.01", debit_account="DAVE")])

    assert [r.outcome for r in up_to_limit + past_limit] == [
        BOOKED,
        ports.TransferOutcome.DECLINED_RETRYABLE,
    ]
    assert book.balance("DAVE") == Money.of("-25.00", "EUR")
    assert book.reconcile().ok


def test_a_closed_account_is_rejected_on_either_side(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    book.close_account("BOB")

    results = book.transfer_many(
        [transfer(), transfer(debit_account="BOB", credit_account="ALICE", amount="0.01")]
    )

    assert [(r.outcome, r.code) for r in results] == [
        (ports.TransferOutcome.REJECTED, "account_closed"),
        (ports.TransferOutcome.REJECTED, "account_closed"),
    ]
    assert book.balance("ALICE") == Money.of("100.00", "EUR")


def test_a_currency_mismatch_is_rejected(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    results = book.transfer_many(
        [
            transfer(amount="10.00", currency="USD"),
            transfer(amount="10.00", currency="USD", debit_account="CAROL"),
        ]
    )

    assert [(r.outcome, r.code) for r in results] == [
        (ports.TransferOutcome.REJECTED, "currency_mismatch"),
        (ports.TransferOutcome.REJECTED, "currency_mismatch"),
    ]
    assert book.balance("CAROL") == Money.of("50.00", "USD")


def test_an_unknown_account_is_rejected(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    results = book.transfer_many(
        [transfer(credit_account="NOBODY"), transfer(debit_account="NOBODY")]
    )

    assert [(r.outcome, r.code) for r in results] == [
        (ports.TransferOutcome.REJECTED, "unknown_account"),
        (ports.TransferOutcome.REJECTED, "unknown_account"),
    ]
    with pytest.raises(ledger.UnknownAccount):
        book.balance("NOBODY")


def test_transfers_may_not_touch_the_banks_equity_account(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    (result,) = book.transfer_many([transfer(debit_account="EQUITY-EUR")])

    assert (result.outcome, result.code) == (ports.TransferOutcome.REJECTED, "internal_account")
    assert book.balance("BOB") == Money.of("0.00", "EUR")


def test_malformed_transfers_are_rejected_without_touching_the_database(
    book: ledger.Ledger, transfer: Callable[..., ports.TransferRequest]
) -> None:
    results = book.transfer_many(
        [
            transfer(amount="0.00"),
            transfer(credit_account="ALICE"),
            transfer(reference="x" * 141),
            transfer(idempotency_key="k" * 65),
        ]
    )

    assert {(r.outcome, r.code) for r in results} == {
        (ports.TransferOutcome.REJECTED, "invalid_transfer")
    }
    assert len(results) == 4


def test_a_mixed_batch_gives_one_result_per_request_in_order(
    book: ledger.Ledger, engine: sa.Engine, transfer: Callable[..., ports.TransferRequest]
) -> None:
    book.open_account("ERIN", "customer-5", "EUR")
    book.close_account("ERIN")
    batch = [
        transfer(amount="60.00"),  # booked: ALICE 40.00
        transfer(amount="50.00"),  # declined: the first transfer used the money
        transfer(amount="40.00", credit_account="ERIN"),
        transfer(amount="40.00", credit_account="NOBODY"),
        transfer(amount="40.00"),  # booked: ALICE 0.00
        transfer(amount="5.00", debit_account="BOB", credit_account="ALICE", currency="USD"),
    ]

    results = book.transfer_many(batch)

    assert [(r.outcome.value, r.code) for r in results] == [
        ("booked", None),
        ("declined_retryable", "insufficient_funds"),
        ("rejected", "account_closed"),
        ("rejected", "unknown_account"),
        ("booked", None),
        ("rejected", "currency_mismatch"),
    ]
    assert len({r.reference for r in results if r.reference}) == 2
    assert book.balance("ALICE") == Money.of("0.00", "EUR")
    assert book.balance("BOB") == Money.of("100.00", "EUR")
    assert _entry_count(engine) == 4
    assert book.reconcile().ok


def test_an_empty_batch_books_nothing(book: ledger.Ledger) -> None:
    assert book.transfer_many([]) == []


def test_a_database_failure_makes_the_whole_batch_unavailable(
    engine: sa.Engine, transfer: Callable[..., ports.TransferRequest]
) -> None:
    # No tables: every statement fails as a SQLite OperationalError would on a lost file.
    tables.metadata.drop_all(engine)
    book = ledger.Ledger(engine, SettableClock(NOW))

    results = book.transfer_many([transfer(), transfer()])

    assert (
        results
        == [
            ports.TransferResult(
                outcome=ports.TransferOutcome.UNAVAILABLE,
                code="ledger_unavailable",
                reason="the ledger could not answer; nothing in the batch was booked",
            )
        ]
        * 2
    )


def test_a_key_booked_by_another_worker_after_the_lookup_is_found_on_retry(
    book: ledger.Ledger, engine: sa.Engine, transfer: Callable[..., ports.TransferRequest]
) -> None:
    request = transfer(amount="30.00")
    (first,) = book.transfer_many([request])
    # Hide the entry from the first lookup only, as if another worker committed it
    # between this batch's lookup and its insert.
    lookups = 0

    @sa.event.listens_for(engine, "before_cursor_execute", retval=True)
    def hide_first_lookup(*args: Any) -> tuple[str, object]:
        _conn, _cursor, statement, parameters, _context, _many = args
        nonlocal lookups
        if statement.startswith("SELECT ledger_entry.id"):
            lookups += 1
            if lookups == 1:
                statement += " AND 1 = 0"
        return statement, parameters

    results = book.transfer_many([request])
    sa.event.remove(engine, "before_cursor_execute", hide_first_lookup)

    assert lookups == 2
    assert results == [first]
    assert book.balance("ALICE") == Money.of("70.00", "EUR")


def test_reconcile_detects_a_tampered_balance(book: ledger.Ledger, engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(tables.ledger_account)
            .where(tables.ledger_account.c.id == "BOB")
            .values(balance=Decimal("1000.00"))
        )

    report = book.reconcile()

    assert report == ledger.Reconciliation(
        entries=2,
        totals_by_currency={"EUR": Decimal("1000.00"), "USD": Decimal(0)},
        mismatched_accounts=("BOB",),
    )
    assert not report.ok


def test_reconcile_detects_an_entry_without_its_balance_change(
    book: ledger.Ledger, engine: sa.Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(tables.ledger_entry).values(
                id=uuid.uuid4(),
                idempotency_key="forged",
                debit_account="ALICE",
                credit_account="MALLORY",
                amount=Decimal("10.00"),
                currency="EUR",
                reference="forged",
                booked_at=NOW,
            )
        )

    report = book.reconcile()

    assert report.mismatched_accounts == ("ALICE", "MALLORY")
    assert report.entries == 3
    assert not report.ok


def test_opening_an_account_twice_is_refused(book: ledger.Ledger) -> None:
    with pytest.raises(ledger.AccountExists) as raised:
        book.open_account("ALICE", "customer-1", "EUR")

    assert raised.value.account_id == "ALICE"
    assert book.balance("ALICE") == Money.of("100.00", "EUR")


def test_a_negative_opening_balance_is_refused(book: ledger.Ledger) -> None:
    with pytest.raises(errors.InvalidMoney):
        book.open_account("FRED", "customer-6", "EUR", opening_balance=Money.of("-1.00", "EUR"))


def test_a_deposit_is_idempotent_by_its_key(book: ledger.Ledger) -> None:
    first = book.deposit("BOB", Money.of("12.34", "EUR"), idempotency_key="funding-1")
    again = book.deposit("BOB", Money.of("12.34", "EUR"), idempotency_key="funding-1")

    assert again == first
    assert book.balance("BOB") == Money.of("12.34", "EUR")
    assert book.balance("EQUITY-EUR") == Money.of("-112.34", "EUR")


def test_closing_an_unknown_account_raises(book: ledger.Ledger) -> None:
    with pytest.raises(ledger.UnknownAccount):
        book.close_account("NOBODY")


def test_accounts_are_locked_in_id_order_on_every_database() -> None:
    statement = ledger.lock_accounts(["B", "A"])

    def compiled(dialect: sa.Dialect) -> str:
        return " ".join(str(statement.compile(dialect=dialect)).split())

    assert compiled(sa.make_url("postgresql+psycopg://").get_dialect()()).endswith(
        "WHERE ledger_account.id IN (__[POSTCOMPILE_id_1]) ORDER BY ledger_account.id FOR UPDATE"
    )
    assert compiled(sa.make_url("mssql+pyodbc://").get_dialect()()) == (
        "SELECT ledger_account.id, ledger_account.currency, ledger_account.balance, "
        "ledger_account.overdraft_limit, ledger_account.status "
        "FROM ledger_account WITH (UPDLOCK, ROWLOCK) "
        "WHERE ledger_account.id IN (__[POSTCOMPILE_id_1]) ORDER BY ledger_account.id"
    )
