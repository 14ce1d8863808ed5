"""The embedded double-entry ledger: the default `PaymentGateway`.

Every movement is one `ledger_entry` row (debit account, credit account, amount), and
both accounts' balances change in the same transaction. Money never comes from nowhere:
an opening balance or a deposit is an entry from the bank's equity account for that
currency (``EQUITY-EUR``), whose balance goes negative by what it handed out. So
`reconcile` can prove that the balances of each currency sum to zero and that each
account's balance is its credits minus its debits (every account opens at zero).

Exactly once in effect (DESIGN.md §3): the idempotency key is unique in `ledger_entry`;
a repeated key returns the first entry's id and moves nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from scheduler import ports
from scheduler.adapters.sql import bulk, statements, tables, types
from scheduler.domain import currency, errors, money

logger = logging.getLogger(__name__)

OPEN = "open"
CLOSED = "closed"
#: Ids starting with this are the bank's own accounts, which transfers may not touch.
EQUITY_PREFIX = "EQUITY-"
BANK_CUSTOMER = "bank"
#: Equity may go as far below zero as the column holds: it is where funding comes from.
EQUITY_OVERDRAFT = Decimal("999999999999999.9999")
#: Column sizes in `ledger_entry`: longer values are rejected, not truncated.
KEY_LENGTH, REFERENCE_LENGTH = 64, 140
#: Database failures that mean "cannot answer now" (lost connection, deadlock victim,
#: pool timeout), as opposed to a bug in our SQL, which is raised.
_UNAVAILABLE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
#: `reconcile` reads one snapshot; SQLite's BEGIN IMMEDIATE already gives one.
_SNAPSHOT_ISOLATION = {"postgresql": "REPEATABLE READ", "mssql": "SNAPSHOT"}

_account = tables.ledger_account
_entry = tables.ledger_entry


class UnknownAccount(errors.SchedulerError):
    """The ledger has no such account."""

    code = "unknown_account"

    def __init__(self, message: str | None = None, *, account_id: str) -> None:
        super().__init__(message, account_id=account_id)
        self.account_id = account_id


class AccountExists(errors.SchedulerError):
    """The ledger already has an account with this id."""

    code = "account_exists"

    def __init__(self, message: str | None = None, *, account_id: str) -> None:
        super().__init__(message, account_id=account_id)
        self.account_id = account_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation:
    """What `Ledger.reconcile` found. `totals_by_currency`: the sum of all balances per
    currency code, zero when balanced. `mismatched_accounts`: ids whose balance is not
    their credits minus debits, whose entries are in another currency, or that entries
    name but the ledger does not hold."""

    entries: int
    totals_by_currency: Mapping[str, Decimal]
    mismatched_accounts: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every currency sums to zero and every balance matches its entries."""
        return not self.mismatched_accounts and not any(self.totals_by_currency.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldAccount:
    """An account as the ledger reports it: who holds it, its balance (negative when
    overdrawn; an equity account is negative by what it funded) and its status."""

    account_id: str
    customer_id: str
    balance: money.Money
    status: str


@dataclass(slots=True, kw_only=True)
class _Account:
    id: str
    currency: str
    overdraft_limit: Decimal
    balance: Decimal = Decimal(0)
    status: str = OPEN


def lock_accounts(account_ids: Sequence[str]) -> sa.Select[tuple[str, str, Decimal, Decimal, str]]:
    """Select the accounts `account_ids` (at most `statements.MAX_IN_LIST`) and lock their rows
    in id order until the transaction ends: FOR UPDATE on PostgreSQL, UPDLOCK on SQL
    Server (SQLAlchemy renders nothing for FOR UPDATE there), the database write lock
    SQLite took at BEGIN IMMEDIATE. Every worker locks in one order, so none deadlock."""
    a = _account.c
    return (
        sa.select(a.id, a.currency, a.balance, a.overdraft_limit, a.status)
        .where(a.id.in_(account_ids))
        .order_by(a.id)
        .with_for_update()
        .with_hint(_account, "WITH (UPDLOCK, ROWLOCK)", "mssql")
    )


class Ledger:
    """The embedded ledger on the scheduler's own database (`ledger_account`,
    `ledger_entry`). Balances are computed in Python on `Decimal`, never in SQL."""

    def __init__(self, engine: sa.Engine, clock: ports.Clock) -> None:
        self._engine = engine
        self._clock = clock

    def open_account(
        self,
        account_id: str,
        customer_id: str,
        currency_code: str,
        *,
        opening_balance: money.Money | None = None,
        overdraft_limit: money.Money | None = None,
    ) -> None:
        """Open an account at zero; a positive `opening_balance` is then booked from the
        currency's equity account under the key ``opening:<account_id>``.
        `overdraft_limit` (default zero) is how far below zero the balance may go.
        Raises `AccountExists`, or `InvalidMoney` for a negative amount."""
        zero = money.Money.zero(currency.currency(currency_code).code)
        opening, limit = opening_balance or zero, overdraft_limit or zero
        if account_id.startswith(EQUITY_PREFIX):
            raise errors.ValidationError(f"{EQUITY_PREFIX} ids are reserved", field="account_id")
        if opening < zero or limit < zero:  # comparing also refuses another currency
            raise errors.InvalidMoney("opening balance and overdraft limit must not be negative")
        now = self._clock.now()
        with self._engine.begin() as connection:
            equity = _ensure_equity(connection, currency_code, now)
            account = _Account(id=account_id, currency=currency_code, overdraft_limit=limit.amount)
            if not _insert_account(connection, account, customer_id=customer_id, now=now):
                raise AccountExists(
                    f"the ledger already has an account {account_id}", account_id=account_id
                )
            if opening.amount:
                request = _funding(equity, account_id, opening, f"opening:{account_id}")
                (result,) = self._book(connection, [request], internal=True)
                if result.outcome is not ports.TransferOutcome.BOOKED:
                    raise RuntimeError(f"opening balance not booked: {result.code}")

    def deposit(
        self, account_id: str, amount: money.Money, *, idempotency_key: str | None = None
    ) -> ports.TransferResult:
        """Fund an account from its currency's equity account (demos and tests) with a
        balanced entry; like any transfer, a repeated key returns the first result."""
        with self._engine.begin() as connection:
            equity = _ensure_equity(connection, amount.currency.code, self._clock.now())
        key = idempotency_key or f"deposit:{uuid.uuid4().hex}"
        return self._transfer([_funding(equity, account_id, amount, key)], internal=True)[0]

    def close_account(self, account_id: str) -> None:
        """Close an account: transfers from or to it are rejected from now on."""
        with self._engine.begin() as connection:
            updated = connection.execute(
                sa.update(_account)
                .where(_account.c.id == account_id)
                .values(status=CLOSED, updated_at=self._clock.now())
            ).rowcount
        if updated != 1:
            raise UnknownAccount(account_id=account_id)

    def holds(self, customer_id: str, account_id: str) -> bool:
        """Whether `customer_id` holds the open account `account_id` (`AccountDirectory`)."""
        query = sa.select(_account.c.id).where(
            _account.c.id == account_id,
            _account.c.customer_id == customer_id,
            _account.c.status == OPEN,
        )
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    def account(self, account_id: str) -> HeldAccount:
        """The account `account_id`. Raises `UnknownAccount`."""
        found = self._held(_account.c.id == account_id)
        if not found:
            raise UnknownAccount(f"the ledger has no account {account_id}", account_id=account_id)
        return found[0]

    def accounts(self, customer_id: str | None = None) -> list[HeldAccount]:
        """Every account, the bank's equity accounts too, or those `customer_id` holds;
        by id."""
        return self._held(None if customer_id is None else _account.c.customer_id == customer_id)

    def has_entry(self, idempotency_key: str) -> bool:
        """Whether an entry was booked under `idempotency_key`."""
        query = sa.select(_entry.c.id).where(_entry.c.idempotency_key == idempotency_key)
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    def _held(self, where: sa.ColumnElement[bool] | None) -> list[HeldAccount]:
        a = _account.c
        query = sa.select(a.id, a.customer_id, a.currency, a.balance, a.status).order_by(a.id)
        if where is not None:
            query = query.where(where)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            HeldAccount(
                account_id=row.id,
                customer_id=row.customer_id,
                balance=money.Money(amount=row.balance, currency=currency.currency(row.currency)),
                status=row.status,
            )
            for row in rows
        ]

    def balance(self, account_id: str) -> money.Money:
        """The account's balance, negative when overdrawn. Raises `UnknownAccount`."""
        query = sa.select(_account.c.balance, _account.c.currency).where(
            _account.c.id == account_id
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise UnknownAccount(account_id=account_id)
        return money.Money(amount=row.balance, currency=currency.currency(row.currency))

    def transfer_many(
        self, requests: Sequence[ports.TransferRequest]
    ) -> list[ports.TransferResult]:
        """Book `requests` in one transaction; one result per request, in order. A
        repeated key is BOOKED with the first entry's id (REJECTED
        `idempotency_key_reused` if that entry moved other money). If the database
        cannot answer, every request is UNAVAILABLE (`ledger_unavailable`), none booked."""
        return self._transfer(requests, internal=False)

    def _transfer(
        self, requests: Sequence[ports.TransferRequest], *, internal: bool
    ) -> list[ports.TransferResult]:
        if not requests:
            return []
        for attempt in (1, 2):
            try:
                with self._engine.begin() as connection:
                    return self._book(connection, requests, internal=internal)
            except sa.exc.IntegrityError as error:
                # Another worker booked one of these keys after our lookup (possible only
                # after a lost lease, with other accounts); the retry finds its entry.
                if attempt == 1:
                    logger.warning("ledger key race, retrying", extra={"size": len(requests)})
                    continue
                _log_failure(error, len(requests))
            except _UNAVAILABLE_ERRORS as error:
                _log_failure(error, len(requests))
            break
        unavailable = ports.TransferResult(
            outcome=ports.TransferOutcome.UNAVAILABLE,
            code="ledger_unavailable",
            reason="the ledger could not answer; nothing in the batch was booked",
        )
        return [unavailable] * len(requests)

    def _book(
        self,
        connection: sa.Connection,
        requests: Sequence[ports.TransferRequest],
        *,
        internal: bool,
    ) -> list[ports.TransferResult]:
        """Lock the accounts, find earlier entries for the keys, decide each request in
        order against running balances, then insert the entries and update balances."""
        ids = sorted({r.debit_account for r in requests} | {r.credit_account for r in requests})
        accounts: dict[str, _Account] = {}
        for chunk in statements.in_list_chunks(ids):
            for row in connection.execute(lock_accounts(chunk)):
                accounts[row.id] = _Account(**row._asdict())
        booked: dict[str, Mapping[str, object]] = {}
        for chunk in statements.in_list_chunks(sorted({r.idempotency_key for r in requests})):
            query = sa.select(_entry).where(_entry.c.idempotency_key.in_(chunk))
            booked.update((row.idempotency_key, row._asdict()) for row in connection.execute(query))
        now = self._clock.now()
        entries: list[dict[str, object]] = []
        results: list[ports.TransferResult] = []
        for request in requests:
            entry = _entry_row(request, now)
            first = booked.get(request.idempotency_key)
            if first is not None:
                same = _fingerprint(first) == _fingerprint(entry)
                results.append(
                    _booked(first)
                    if same
                    else _rejected("idempotency_key_reused", "the key booked another transfer")
                )
            elif (refusal := _refusal(request, accounts, internal=internal)) is not None:
                results.append(refusal)
            else:
                accounts[request.debit_account].balance -= request.amount.amount
                accounts[request.credit_account].balance += request.amount.amount
                booked[request.idempotency_key] = entry
                entries.append(entry)
                results.append(_booked(entry))
        if entries:
            touched = sorted(
                {str(e[side]) for e in entries for side in ("debit_account", "credit_account")}
            )
            bulk.insert_rows(connection, _entry, entries)
            connection.execute(
                sa.update(_account)
                .where(_account.c.id == sa.bindparam("account_id"))
                .values(balance=sa.bindparam("new_balance", type_=types.Amount()), updated_at=now),
                [{"account_id": i, "new_balance": accounts[i].balance} for i in touched],
            )
        return results

    def reconcile(self) -> Reconciliation:
        """Check the whole ledger on one consistent snapshot: each currency's balances
        sum to zero and each balance is the account's credits minus its debits. Streams
        every entry, so it is an audit job, not something to run per request."""
        isolation = _SNAPSHOT_ISOLATION.get(self._engine.dialect.name)
        options = {"isolation_level": isolation} if isolation else {}
        e = _entry.c
        movements: dict[str, Decimal] = {}
        entry_currencies: dict[str, set[str]] = {}
        entries = 0
        with self._engine.connect().execution_options(**options) as connection, connection.begin():
            accounts = connection.execute(
                sa.select(_account.c.id, _account.c.currency, _account.c.balance)
            ).all()
            query = sa.select(e.debit_account, e.credit_account, e.amount, e.currency)
            for debit, credit, amount, code in connection.execute(
                query, execution_options={"yield_per": 1000}
            ):
                entries += 1
                for account_id, signed in ((debit, -amount), (credit, amount)):
                    movements[account_id] = movements.get(account_id, Decimal(0)) + signed
                    entry_currencies.setdefault(account_id, set()).add(code)
        totals: dict[str, Decimal] = {}
        mismatched = set(movements) - {row.id for row in accounts}
        for row in accounts:
            totals[row.currency] = totals.get(row.currency, Decimal(0)) + row.balance
            moved = movements.get(row.id, Decimal(0))
            if moved != row.balance or entry_currencies.get(row.id, set()) - {row.currency}:
                mismatched.add(row.id)
        return Reconciliation(
            entries=entries,
            totals_by_currency=totals,
            mismatched_accounts=tuple(sorted(mismatched)),
        )


def _refusal(
    request: ports.TransferRequest, accounts: Mapping[str, _Account], *, internal: bool
) -> ports.TransferResult | None:
    """Why `request` cannot be booked against the current balances, or None."""
    debit = accounts.get(request.debit_account)
    credit = accounts.get(request.credit_account)
    amount = request.amount
    if not _well_formed(request):
        return _rejected("invalid_transfer", "not a positive amount between two accounts")
    if debit is None or credit is None:
        return _rejected("unknown_account", "the ledger has no such account")
    if not internal and any(a.id.startswith(EQUITY_PREFIX) for a in (debit, credit)):
        return _rejected("internal_account", "transfers may not touch the bank's own accounts")
    if debit.status != OPEN or credit.status != OPEN:
        return _rejected("account_closed", "the debit or credit account is closed")
    if {debit.currency, credit.currency} != {amount.currency.code}:
        return _rejected("currency_mismatch", "the accounts are not in the amount's currency")
    covered = debit.balance - amount.amount >= -debit.overdraft_limit
    return None if covered else _INSUFFICIENT_FUNDS


def _ensure_equity(connection: sa.Connection, currency_code: str, now: datetime) -> str:
    """The id of the bank's equity account in `currency_code`, opened if missing."""
    equity = f"{EQUITY_PREFIX}{currency_code}"
    if not connection.execute(sa.select(_account.c.id).where(_account.c.id == equity)).first():
        # Two first openings in a new currency may race: the loser finds it opened.
        account = _Account(id=equity, currency=currency_code, overdraft_limit=EQUITY_OVERDRAFT)
        _insert_account(connection, account, customer_id=BANK_CUSTOMER, now=now)
    return equity


def _insert_account(
    connection: sa.Connection, account: _Account, *, customer_id: str, now: datetime
) -> bool:
    """Insert `account`; False if its id is taken."""
    values = dataclasses.asdict(account) | {"customer_id": customer_id, "updated_at": now}
    try:
        with connection.begin_nested():
            connection.execute(sa.insert(_account).values(**values))
    except sa.exc.IntegrityError:
        return False
    return True


def _well_formed(request: ports.TransferRequest) -> bool:
    """A positive amount between two accounts, with a key and reference that fit."""
    return (
        request.amount.amount > 0
        and request.debit_account != request.credit_account
        and len(request.idempotency_key) <= KEY_LENGTH
        and len(request.reference) <= REFERENCE_LENGTH
    )


def _funding(equity: str, account_id: str, amount: money.Money, key: str) -> ports.TransferRequest:
    reference = "opening balance" if key.startswith("opening:") else "deposit"
    return ports.TransferRequest(
        idempotency_key=key,
        debit_account=equity,
        credit_account=account_id,
        amount=amount,
        reference=reference,
    )


def _entry_row(request: ports.TransferRequest, now: datetime) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "idempotency_key": request.idempotency_key,
        "debit_account": request.debit_account,
        "credit_account": request.credit_account,
        "amount": request.amount.amount,
        "currency": request.amount.currency.code,
        "reference": request.reference,
        "booked_at": now,
    }


def _fingerprint(entry: Mapping[str, object]) -> tuple[object, ...]:
    """What a repeated key is compared on: the money it moves, not the reference."""
    return tuple(entry[k] for k in ("debit_account", "credit_account", "amount", "currency"))


_INSUFFICIENT_FUNDS = ports.TransferResult(
    outcome=ports.TransferOutcome.DECLINED_RETRYABLE,
    code="insufficient_funds",
    reason="the balance and arranged overdraft do not cover the amount",
)


def _log_failure(error: sa.exc.SQLAlchemyError, size: int) -> None:
    # Only the driver's error class: SQLAlchemy's message lists the statement's
    # parameters, which include account ids, and those stay out of logs.
    cause = type(getattr(error, "orig", None) or error).__name__
    logger.error("ledger unavailable: %s", cause, extra={"size": size})


def _booked(entry: Mapping[str, object]) -> ports.TransferResult:
    return ports.TransferResult(outcome=ports.TransferOutcome.BOOKED, reference=str(entry["id"]))


def _rejected(code: str, reason: str) -> ports.TransferResult:
    return ports.TransferResult(outcome=ports.TransferOutcome.REJECTED, code=code, reason=reason)
