"""`tsched accounts open|deposit|list`: the embedded ledger's accounts, so that a fresh
store can take schedules over HTTP (a schedule debits only an account its customer
holds). Refused when core banking keeps the accounts (CORE_BANKING_URL)."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from scheduler import bootstrap
from scheduler.cli import output
from scheduler.cli.output import Commands
from scheduler.config import load_settings
from scheduler.service import ledger_accounts


def register(commands: Commands) -> None:
    """Add `accounts open`, `accounts deposit` and `accounts list`."""
    accounts = commands.add_parser(
        "accounts",
        help="open, fund and list accounts of the embedded ledger (not with core banking)",
    )
    actions = accounts.add_subparsers(required=True, metavar="ACTION")

    open_command = actions.add_parser(
        "open", help="open an account at zero for a customer, in one currency"
    )
    open_command.add_argument("account_id", metavar="ACCOUNT", help="e.g. GB-ALICE-01")
    open_command.add_argument(
        "--customer", required=True, help="the customer who holds it (a token's customer_id)"
    )
    open_command.add_argument("--currency", required=True, help="ISO 4217 code, e.g. GBP")
    open_command.set_defaults(run=_run_open)

    deposit = actions.add_parser(
        "deposit", help="credit an account from the bank's equity; a reference makes it once"
    )
    deposit.add_argument("account_id", metavar="ACCOUNT")
    deposit.add_argument(
        "amount", metavar="AMOUNT", help="decimal string in the account's currency, e.g. 1000.00"
    )
    deposit.add_argument(
        "--reference",
        required=True,
        help="names this deposit: running it again with the same reference credits nothing",
    )
    deposit.add_argument("--currency", help="if given, must be the account's currency")
    deposit.set_defaults(run=_run_deposit)

    listing = actions.add_parser("list", help="accounts with holder, currency and balance")
    listing.add_argument("--customer", help="only this customer's accounts")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_run_list)


@contextmanager
def _runtime() -> Iterator[bootstrap.Runtime]:
    """The runtime of the settings, without an event publisher: these commands publish
    nothing. Its `ledger` is None when core banking keeps the accounts."""
    settings = load_settings().model_copy(update={"kafka_bootstrap_servers": None})
    runtime = bootstrap.build(settings)
    try:
        yield runtime
    finally:
        runtime.close()


def _actor() -> str:
    """Who the audit trail says acted: the operating-system user running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "cli:unknown"


def _run_open(args: argparse.Namespace) -> int:
    command = ledger_accounts.OpenAccount(
        account_id=args.account_id,
        customer_id=args.customer,
        currency_code=args.currency,
        actor=_actor(),
    )
    with _runtime() as runtime:
        held = ledger_accounts.open_account(
            command, book=runtime.ledger, uow=runtime.unit_of_work(), clock=runtime.clock
        )
    print(f"tsched: opened {held.account_id} for {held.customer_id}, balance {held.balance}")
    return 0


def _run_deposit(args: argparse.Namespace) -> int:
    command = ledger_accounts.Deposit(
        account_id=args.account_id,
        amount=args.amount,
        reference=args.reference,
        currency_code=args.currency,
        actor=_actor(),
    )
    with _runtime() as runtime:
        done = ledger_accounts.deposit(
            command, book=runtime.ledger, uow=runtime.unit_of_work(), clock=runtime.clock
        )
    account = done.account
    if done.repeated:
        print(
            f"tsched: deposit {args.reference} was already booked (entry {done.entry}); "
            f"nothing credited, {account.account_id} balance {account.balance}"
        )
    else:
        print(
            f"tsched: deposited {done.amount} into {account.account_id} "
            f"(entry {done.entry}), balance {account.balance}"
        )
    return 0


def _run_list(args: argparse.Namespace) -> int:
    with _runtime() as runtime:
        held = ledger_accounts.list_accounts(book=runtime.ledger, customer_id=args.customer)
    if args.json:
        output.print_json([_as_json(account) for account in held])
    elif held:
        print(accounts_table(held))
    return 0


def _as_json(account: ledger_accounts.HeldAccount) -> dict[str, object]:
    balance = account.balance
    return {
        "account_id": account.account_id,
        "customer_id": account.customer_id,
        "balance": {"value": str(balance.amount), "currency": balance.currency.code},
        "status": account.status,
    }


def accounts_table(held: Sequence[ledger_accounts.HeldAccount]) -> str:
    """Accounts as a table: id, holder, currency, balance, status."""
    rows = [("account", "holder", "currency", "balance", "status")]
    rows += [
        (
            account.account_id,
            account.customer_id,
            account.balance.currency.code,
            str(account.balance.amount),
            account.status,
        )
        for account in held
    ]
    return output.table(rows)
