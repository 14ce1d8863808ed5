"""`tsched accounts open|deposit|list` run in-process on a migrated SQLite store that
DATABASE_URL names: what a fresh store needs before it can take schedules over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler.adapters import ledger
from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import migrate, tables
from scheduler.clocks import SystemClock
from scheduler.domain.money import Money
from scheduler.service import ledger_accounts
from tests.support.cli import columns, run

CORE_BANKING = "https://core.example.com/payments"


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """A migrated, empty SQLite store that DATABASE_URL names."""
    url = f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = sql_engine.create_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def book(store: sa.Engine) -> ledger.Ledger:
    return ledger.Ledger(store, SystemClock())


def snapshot(engine: sa.Engine) -> tuple[list[tuple[object, ...]], ...]:
    """Every row of the tables these commands may write, to show that nothing changed."""
    with engine.connect() as connection:
        return tuple(
            [tuple(row) for row in connection.execute(sa.select(table))]
            for table in (tables.ledger_account, tables.ledger_entry, tables.audit_record)
        )


def audit_rows(engine: sa.Engine) -> list[dict[str, object]]:
    r = tables.audit_record.c
    query = sa.select(r.actor, r.action, r.subject_type, r.subject_id, r.customer_id, r.details)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query.order_by(r.seq))]


def open_alice(capsys: pytest.CaptureFixture[str], currency: str = "GBP") -> None:
    status, _, err = run(
        capsys, "accounts", "open", "GB-ALICE-01", "--customer", "alice", "--currency", currency
    )
    assert (status, err) == (0, "")


def test_an_opened_account_is_held_by_its_customer_at_zero(
    capsys: pytest.CaptureFixture[str], book: ledger.Ledger
) -> None:
    status, out, err = run(
        capsys, "accounts", "open", "GB-ALICE-01", "--customer", "alice", "--currency", "GBP"
    )

    assert (status, err) == (0, "")
    assert out == "tsched: opened GB-ALICE-01 for alice, balance GBP 0.00\n"
    assert book.holds("alice", "GB-ALICE-01")
    assert book.balance("GB-ALICE-01") == Money.of("0.00", "GBP")


@pytest.mark.parametrize(
    "account_id",
    ["", "bad id", "GB/1", "_GB-1", "Ä-1", "A" * 35, "EQUITY-GBP", "equity-gbp"],
)
def test_a_bad_account_id_is_refused_with_status_2_and_nothing_opened(
    capsys: pytest.CaptureFixture[str], store: sa.Engine, account_id: str
) -> None:
    before = snapshot(store)

    status, out, err = run(
        capsys, "accounts", "open", account_id, "--customer", "alice", "--currency", "GBP"
    )

    assert (status, out) == (2, "")
    assert err.startswith("tsched: account_id: ")
    assert snapshot(store) == before


@pytest.mark.parametrize("code", ["gbp", "EURO", "XXX", "HRK", ""])
def test_a_bad_currency_is_refused_with_status_2_and_nothing_opened(
    capsys: pytest.CaptureFixture[str], store: sa.Engine, code: str
) -> None:
    before = snapshot(store)

    status, out, err = run(
        capsys, "accounts", "open", "GB-ALICE-01", "--customer", "alice", "--currency", code
    )

    assert (status, out) == (2, "")
    assert err == f"tsched: currency: {code!r} is not an active ISO 4217 currency code\n"
    assert snapshot(store) == before


@pytest.mark.parametrize("customer", ["", "alice smith", "x" * 65])
def test_a_bad_customer_id_is_refused_with_status_2_and_nothing_opened(
    capsys: pytest.CaptureFixture[str], store: sa.Engine, customer: str
) -> None:
    before = snapshot(store)

    status, _, err = run(
        capsys, "accounts", "open", "GB-ALICE-01", "--customer", customer, "--currency", "GBP"
    )

    assert status == 2
    assert err.startswith("tsched: customer_id: ")
    assert snapshot(store) == before


def test_opening_an_account_again_is_refused_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], store: sa.Engine
) -> None:
    open_alice(capsys)
    before = snapshot(store)

    status, _, err = run(
        capsys, "accounts", "open", "GB-ALICE-01", "--customer", "bob", "--currency", "EUR"
    )

    assert (status, err) == (2, "tsched: the ledger already has an account GB-ALICE-01\n")
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["open", "GB-ALICE-01", "--customer", "alice", "--currency", "GBP"],
        ["deposit", "GB-ALICE-01", "10.00", "--reference", "r-1"],
        ["list"],
    ],
    ids=["open", "deposit", "list"],
)
def test_every_action_is_refused_when_core_banking_keeps_the_accounts(
    capsys: pytest.CaptureFixture[str],
    store: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    monkeypatch.setenv("CORE_BANKING_URL", CORE_BANKING)
    before = snapshot(store)

    status, out, err = run(capsys, "accounts", *argv)

    assert (status, out) == (2, "")
    assert err == (
        "tsched: Core banking keeps the accounts (CORE_BANKING_URL is set): "
        "its books are not ours.\n"
    )
    assert snapshot(store) == before


def test_a_deposit_credits_the_account_from_the_banks_equity(
    capsys: pytest.CaptureFixture[str], book: ledger.Ledger
) -> None:
    open_alice(capsys)

    status, out, err = run(
        capsys, "accounts", "deposit", "GB-ALICE-01", "1000.00", "--reference", "salary-1"
    )

    assert (status, err) == (0, "")
    assert out.startswith("tsched: deposited GBP 1000.00 into GB-ALICE-01 (entry ")
    assert out.endswith("), balance GBP 1000.00\n")
    assert book.balance("GB-ALICE-01") == Money.of("1000.00", "GBP")
    assert book.balance("EQUITY-GBP") == Money.of("-1000.00", "GBP")
    assert book.reconcile().ok


def test_re_running_a_deposit_with_its_reference_credits_nothing_more(
    capsys: pytest.CaptureFixture[str], book: ledger.Ledger
) -> None:
    open_alice(capsys)
    argv = ["accounts", "deposit", "GB-ALICE-01", "1000.00", "--reference", "salary-1"]
    first = run(capsys, *argv)
    entry = first[1].split("(entry ")[1].split(")")[0]

    status, out, err = run(capsys, *argv)

    assert (status, err) == (0, "")
    assert out == (
        f"tsched: deposit salary-1 was already booked (entry {entry}); nothing credited, "
        "GB-ALICE-01 balance GBP 1000.00\n"
    )
    assert book.balance("GB-ALICE-01") == Money.of("1000.00", "GBP")


def test_a_reference_used_for_another_deposit_is_refused(
    capsys: pytest.CaptureFixture[str], book: ledger.Ledger, store: sa.Engine
) -> None:
    open_alice(capsys)
    run(capsys, "accounts", "deposit", "GB-ALICE-01", "1000.00", "--reference", "salary-1")
    before = snapshot(store)

    status, _, err = run(
        capsys, "accounts", "deposit", "GB-ALICE-01", "5.00", "--reference", "salary-1"
    )

    assert status == 2
    assert "'salary-1' was already used for another deposit" in err
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1.005", "GBP amounts have at most 2 decimals, got 1.005"),
        ("1e3", "'1e3' is not a plain decimal number such as 120.50"),
        ("12,50", "'12,50' is not a plain decimal number such as 120.50"),
        ("NaN", "'NaN' is not a plain decimal number such as 120.50"),
        ("0.00", "an amount to transfer must be positive, got GBP 0.00"),
        ("-5.00", "an amount to transfer must be positive, got GBP -5.00"),
    ],
)
def test_a_deposit_is_a_positive_decimal_string_in_the_accounts_minor_units(
    capsys: pytest.CaptureFixture[str], store: sa.Engine, amount: str, message: str
) -> None:
    open_alice(capsys)
    before = snapshot(store)

    status, _, err = run(capsys, "accounts", "deposit", "GB-ALICE-01", amount, "--reference", "r")

    assert (status, err) == (2, f"tsched: amount: {message}\n")
    assert snapshot(store) == before


def test_a_yen_deposit_has_no_minor_units(
    capsys: pytest.CaptureFixture[str], book: ledger.Ledger
) -> None:
    open_alice(capsys, "JPY")

    refused = run(capsys, "accounts", "deposit", "GB-ALICE-01", "500.5", "--reference", "y-1")
    accepted = run(capsys, "accounts", "deposit", "GB-ALICE-01", "500", "--reference", "y-1")

    assert refused[0] == 2
    assert accepted[0] == 0
    assert book.balance("GB-ALICE-01").amount == Decimal(500)


def test_a_deposit_naming_another_currency_than_the_accounts_is_refused(
    capsys: pytest.CaptureFixture[str], store: sa.Engine
) -> None:
    open_alice(capsys)
    before = snapshot(store)

    status, _, err = run(
        capsys, "accounts", "deposit", "GB-ALICE-01", "10", "--reference", "r", "--currency", "JPY"
    )

    assert (status, err) == (2, "tsched: currency: GB-ALICE-01 is a GBP account, not JPY\n")
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("account_id", "reference", "message"),
    [
        ("GB-NOBODY", "r-1", "tsched: the ledger has no account GB-NOBODY\n"),
        ("EQUITY-GBP", "r-1", "tsched: account_id: 'EQUITY-GBP': ids starting with EQUITY-"),
        ("GB-ALICE-01", "two words", "tsched: reference: 'two words' is not a reference"),
        ("GB-ALICE-01", "r" * 57, "tsched: reference: "),
    ],
)
def test_a_deposit_to_a_bad_account_or_with_a_bad_reference_is_refused(
    capsys: pytest.CaptureFixture[str],
    store: sa.Engine,
    account_id: str,
    reference: str,
    message: str,
) -> None:
    open_alice(capsys)
    before = snapshot(store)

    status, _, err = run(
        capsys, "accounts", "deposit", account_id, "10.00", "--reference", reference
    )

    assert status == 2
    assert err.startswith(message)
    assert snapshot(store) == before


def test_a_deposit_into_a_closed_account_is_refused(
    capsys: pytest.CaptureFixture[str], book: ledger.Ledger
) -> None:
    open_alice(capsys)
    book.close_account("GB-ALICE-01")

    status, _, err = run(capsys, "accounts", "deposit", "GB-ALICE-01", "10.00", "--reference", "r")

    assert status == 2
    assert "did not book the deposit into GB-ALICE-01: account_closed" in err
    assert book.balance("GB-ALICE-01") == Money.of("0.00", "GBP")


def test_list_shows_each_accounts_holder_currency_and_balance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    open_alice(capsys)
    run(capsys, "accounts", "open", "US-BOB-01", "--customer", "bob", "--currency", "USD")
    run(capsys, "accounts", "deposit", "GB-ALICE-01", "1000.00", "--reference", "d-1")

    status, out, err = run(capsys, "accounts", "list")

    assert (status, err) == (0, "")
    assert columns(out) == {
        "account": ("EQUITY-GBP", "EQUITY-USD", "GB-ALICE-01", "US-BOB-01"),
        "holder": ("bank", "bank", "alice", "bob"),
        "currency": ("GBP", "USD", "GBP", "USD"),
        "balance": ("-1000.00", "0.00", "1000.00", "0.00"),
        "status": ("open", "open", "open", "open"),
    }


def test_list_for_one_customer_prints_amounts_as_decimal_strings_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    open_alice(capsys)
    run(capsys, "accounts", "open", "US-BOB-01", "--customer", "bob", "--currency", "USD")
    run(capsys, "accounts", "deposit", "US-BOB-01", "20.50", "--reference", "d-1")

    status, out, _ = run(capsys, "accounts", "list", "--customer", "bob", "--json")

    assert status == 0
    assert json.loads(out) == [
        {
            "account_id": "US-BOB-01",
            "customer_id": "bob",
            "balance": {"value": "20.50", "currency": "USD"},
            "status": "open",
        }
    ]


def test_list_of_an_empty_store_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "accounts", "list") == (0, "", "")


def test_opening_and_each_deposit_run_are_audited_with_the_operator_as_actor(
    capsys: pytest.CaptureFixture[str], store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "ops-jane")
    open_alice(capsys)
    for _ in range(2):
        run(capsys, "accounts", "deposit", "GB-ALICE-01", "1000.00", "--reference", "d-1")

    rows = audit_rows(store)

    assert [(row["actor"], row["action"], row["subject_id"]) for row in rows] == [
        ("cli:ops-jane", "ledger_account.opened", "GB-ALICE-01"),
        ("cli:ops-jane", "ledger_account.deposited", "GB-ALICE-01"),
        ("cli:ops-jane", "ledger_account.deposited", "GB-ALICE-01"),
    ]
    assert {(row["subject_type"], row["customer_id"]) for row in rows} == {
        ("ledger_account", "alice")
    }
    assert rows[0]["details"] == {"currency": "GBP"}
    first, second = rows[1]["details"], rows[2]["details"]
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert first["amount"] == {"value": "1000.00", "currency": "GBP"}
    assert (first["reference"], first["repeated"]) == ("d-1", False)
    assert (second["ledger_entry"], second["repeated"]) == (first["ledger_entry"], True)


def test_the_reserved_prefix_is_the_one_the_ledger_keeps_for_equity() -> None:
    assert ledger_accounts.RESERVED_PREFIX == ledger.EQUITY_PREFIX
