"""Use cases on the embedded ledger's accounts: open one, deposit into one, list them.

They exist so that a fresh store can be used: a schedule may debit only an account its
customer holds, and nothing else opens accounts outside the demo. The three share one
module (not one each, as use cases usually have) because they share their rules: which
ids and references are acceptable, and that the books must be ours. When core banking
is configured (CORE_BANKING_URL), accounts and money live in the bank's books, which the
scheduler neither opens nor funds: every use case here then refuses (`BooksElsewhere`).

Audit: the ledger stands in for the bank's books, the way the dispatcher uses it as a
payment gateway, so, as the dispatcher does, the change is made in the ledger first and
its outcome is then audited in a transaction of its own ("ledger_account.opened",
"ledger_account.deposited"). A crash between the two leaves a booked change without its
record; re-running the same deposit (same reference) books nothing and writes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scheduler.domain import currency, errors
from scheduler.domain.audit import AuditEntry
from scheduler.domain.money import Money
from scheduler.ports import Clock, TransferOutcome, TransferResult, UnitOfWork

#: An account id: 1 to 34 letters, digits, '.', '_' or '-' (an IBAN has at most 34
#: characters, as does the store's column), starting with a letter or digit.
ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,33}")
#: Ids the ledger keeps for the bank's own equity accounts, in any case. The ledger
#: refuses `ledger.EQUITY_PREFIX` itself; a test checks that the two agree.
RESERVED_PREFIX = "EQUITY-"
#: A customer id: 1 to 64 characters (the store's column) without spaces, as tokens
#: carry it in their `customer_id` claim.
CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}")
#: A deposit's reference, which makes re-running the same deposit safe: 1 to 56 of
#: letters, digits, '.', '_', ':' or '-' (the ledger's key is ``deposit:<reference>``,
#: at most 64 characters).
REFERENCE = re.compile(r"[A-Za-z0-9._:-]{1,56}")
DEPOSIT_KEY_PREFIX = "deposit:"


class BooksElsewhere(errors.SchedulerError):
    """Core banking keeps the accounts (CORE_BANKING_URL is set): its books are not ours."""

    code = "books_elsewhere"


class DepositReferenceReused(errors.ValidationError):
    """The reference was already used for another deposit (another account or amount)."""

    code = "deposit_reference_reused"

    def __init__(self, *, reference: str) -> None:
        super().__init__(
            f"reference {reference!r} was already used for another deposit; "
            "give each deposit its own reference",
            field="reference",
            reference=reference,
        )
        self.reference = reference


class DepositNotBooked(errors.SchedulerError):
    """The ledger did not book the deposit."""

    code = "deposit_not_booked"

    def __init__(self, *, account_id: str, result: TransferResult) -> None:
        super().__init__(
            f"the ledger did not book the deposit into {account_id}: "
            f"{result.code} ({result.reason})",
            account_id=account_id,
            ledger_code=result.code,
        )
        self.account_id = account_id
        self.result = result


class HeldAccount(Protocol):
    """An account as the books report it."""

    @property
    def account_id(self) -> str: ...

    @property
    def customer_id(self) -> str: ...

    @property
    def balance(self) -> Money: ...

    @property
    def status(self) -> str: ...


class AccountBook(Protocol):
    """The books these use cases open accounts in: the embedded ledger
    (`adapters.ledger.Ledger`). A port of this module rather than of `ports`, since no
    other use case and no bank's core system offers it."""

    def open_account(self, account_id: str, customer_id: str, currency_code: str) -> None:
        """Open an account at zero; raises `AccountExists` if the id is taken."""

    def deposit(
        self, account_id: str, amount: Money, *, idempotency_key: str | None = None
    ) -> TransferResult:
        """Fund the account from the bank's equity; a repeated key books nothing more."""
        ...

    def account(self, account_id: str) -> HeldAccount:
        """The account; raises `UnknownAccount`."""
        ...

    def accounts(self, customer_id: str | None = None) -> Sequence[HeldAccount]:
        """All accounts, or those `customer_id` holds, by id."""
        ...

    def has_entry(self, idempotency_key: str) -> bool:
        """Whether an entry was booked under `idempotency_key`."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAccount:
    """Open account `account_id` in `currency_code` (ISO 4217) for `customer_id`, on
    behalf of `actor`."""

    account_id: str
    customer_id: str
    currency_code: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Deposit:
    """Credit `amount` (a decimal string in the account's currency, e.g. "1000.00") to
    `account_id`, under `reference`, on behalf of `actor`. `currency_code`, when given,
    must be the account's: a guard against meaning another currency's units."""

    account_id: str
    amount: str
    reference: str
    actor: str
    currency_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Deposited:
    """The account after the deposit; `repeated` when the reference had been booked
    before, so this run credited nothing. `entry` is the ledger entry's id."""

    account: HeldAccount
    amount: Money
    entry: str
    repeated: bool


def open_account(
    cmd: OpenAccount, *, book: AccountBook | None, uow: UnitOfWork, clock: Clock
) -> HeldAccount:
    """Open the account at zero, then audit it. Every argument is checked before
    anything is written.

    Raises `BooksElsewhere` (`book` is None: core banking keeps the accounts),
    `ValidationError` for a bad account or customer id, `UnknownCurrency`, or the
    ledger's `AccountExists`."""
    book = _ours(book)
    check_account_id(cmd.account_id)
    if not CUSTOMER_ID.fullmatch(cmd.customer_id):
        raise errors.ValidationError(
            f"{cmd.customer_id!r} is not a customer id: 1 to 64 letters, digits, "
            "'.', '_', '@', ':' or '-'",
            field="customer_id",
        )
    code = currency.currency(cmd.currency_code).code
    book.open_account(cmd.account_id, cmd.customer_id, code)
    _audit(
        uow,
        AuditEntry(
            occurred_at=clock.now(),
            actor=cmd.actor,
            action="ledger_account.opened",
            subject_type="ledger_account",
            subject_id=cmd.account_id,
            customer_id=cmd.customer_id,
            details={"currency": code},
        ),
    )
    return book.account(cmd.account_id)


def deposit(cmd: Deposit, *, book: AccountBook | None, uow: UnitOfWork, clock: Clock) -> Deposited:
    """Book the deposit from the bank's equity under the key ``deposit:<reference>``,
    then audit it. Re-running it with the same reference credits nothing more and says
    so (`repeated`); a reference booked for another account or amount is refused.

    Raises `BooksElsewhere`, `ValidationError` (bad id or reference, or `currency_code`
    not the account's), `InvalidMoney` (not a positive decimal string with at most the
    currency's minor units), the ledger's `UnknownAccount`, `DepositReferenceReused`,
    or `DepositNotBooked` (e.g. the account is closed, or the ledger is unavailable)."""
    book = _ours(book)
    check_account_id(cmd.account_id)
    if not REFERENCE.fullmatch(cmd.reference):
        raise errors.ValidationError(
            f"{cmd.reference!r} is not a reference: 1 to 56 letters, digits, '.', '_', ':' or '-'",
            field="reference",
        )
    held = book.account(cmd.account_id)
    account_currency = held.balance.currency.code
    if cmd.currency_code is not None and cmd.currency_code != account_currency:
        raise errors.ValidationError(
            f"{cmd.account_id} is a {account_currency} account, not {cmd.currency_code}",
            field="currency",
        )
    amount = Money.of(cmd.amount, account_currency).require_positive()
    key = DEPOSIT_KEY_PREFIX + cmd.reference
    # Read before booking only to say whether this run credited anything: the ledger's
    # unique key, not this read, is what keeps a repeat from crediting twice.
    repeated = book.has_entry(key)
    result = book.deposit(cmd.account_id, amount, idempotency_key=key)
    if result.outcome is not TransferOutcome.BOOKED or result.reference is None:
        if result.code == "idempotency_key_reused":
            raise DepositReferenceReused(reference=cmd.reference)
        raise DepositNotBooked(account_id=cmd.account_id, result=result)
    _audit(
        uow,
        AuditEntry(
            occurred_at=clock.now(),
            actor=cmd.actor,
            action="ledger_account.deposited",
            subject_type="ledger_account",
            subject_id=cmd.account_id,
            customer_id=held.customer_id,
            details={
                "amount": {"value": str(amount.amount), "currency": account_currency},
                "reference": cmd.reference,
                "ledger_entry": result.reference,
                "repeated": repeated,
            },
        ),
    )
    return Deposited(
        account=book.account(cmd.account_id),
        amount=amount,
        entry=result.reference,
        repeated=repeated,
    )


def list_accounts(
    *, book: AccountBook | None, customer_id: str | None = None
) -> Sequence[HeldAccount]:
    """Every account in the books (the bank's equity accounts, held by "bank", too), or
    only those `customer_id` holds, by id. Raises `BooksElsewhere`."""
    return _ours(book).accounts(customer_id)


def check_account_id(account_id: str) -> None:
    """Raise `ValidationError` unless `account_id` may name a customer's account."""
    if not ACCOUNT_ID.fullmatch(account_id):
        raise errors.ValidationError(
            f"{account_id!r} is not an account id: 1 to 34 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit",
            field="account_id",
        )
    if account_id.upper().startswith(RESERVED_PREFIX):
        raise errors.ValidationError(
            f"{account_id!r}: ids starting with {RESERVED_PREFIX} are the bank's own accounts",
            field="account_id",
        )


def _ours(book: AccountBook | None) -> AccountBook:
    if book is None:
        raise BooksElsewhere()
    return book


def _audit(uow: UnitOfWork, entry: AuditEntry) -> None:
    with uow:
        uow.audit.append([entry])
        uow.commit()
