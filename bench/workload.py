"""A dispatch workload: seed a store with due one-time transfers, then reconcile what
the dispatcher made of them.

`seed` opens the ledger accounts and stores `Workload.transfers` one-time transfers,
all due at (or a little before) one instant, spread round-robin over the debit accounts.
A chosen fraction of the debit accounts is left without funds, so their transfers are
declined; the others hold exactly what their transfers need.

The rows come from the product's own code, not from hand-written SQL: every schedule is
parsed from the channel's JSON (`ScheduleIn`) and saved by the real `create_schedule`
use case through the real SQL repositories. Only the round trips are batched: a
`_BatchingUnitOfWork` hands the repositories a stand-in connection that keeps the rows
they insert, and `seed` writes them with one executemany per table, a chunk of schedules
per transaction. On a two-core machine 20,000 transfers take about 10 s (7 s with
`processes=2`), 100,000 with a reminder each about a minute: a million is minutes.

`reconcile` reads the facts a test or a benchmark checks afterwards (operations by
status, ledger entries, balances, history, events, audit) and `Facts.problems()` lists
every broken invariant: money moved twice or not at all, balances that do not add up,
an outcome without its history row, event or audit record.

    python -m bench.workload --database-url postgresql+psycopg://... --transfers 20000
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Self, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import BindParameter

from scheduler.adapters import ledger
from scheduler.adapters.sql import bulk, migrate, tables
from scheduler.adapters.sql.audit import SqlAuditRepository
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.figures import SqlOperationsFigures
from scheduler.adapters.sql.history import SqlHistoryRepository
from scheduler.adapters.sql.idempotency import SqlIdempotencyRepository
from scheduler.adapters.sql.operations import SqlOperationRepository
from scheduler.adapters.sql.outbox import SqlOutboxRepository
from scheduler.adapters.sql.schedules import SqlScheduleRepository
from scheduler.api import schemas
from scheduler.clocks import SteppingClock
from scheduler.domain.currency import currency
from scheduler.domain.events import EventType
from scheduler.domain.money import Money
from scheduler.domain.operation import FINAL, OperationStatus
from scheduler.progress import Progress
from scheduler.service.create_schedule import CreateSchedule, create_schedule

#: Channel and actor the seeded schedules are created by.
CHANNEL = "bench"
ACTOR = "channel:bench"
#: Outbox event types that report one attempt at an operation (one per history row).
OUTCOME_EVENT_TYPES = (
    EventType.EXECUTION_SUCCEEDED,
    EventType.EXECUTION_RETRY_SCHEDULED,
    EventType.EXECUTION_FAILED,
    EventType.OPERATION_DEAD,
    EventType.OPERATION_SKIPPED,
    EventType.REMINDER_DUE,
)
_EXECUTION = "execution"
_SUCCEEDED = "succeeded"
#: Operations still to run (pending, claimed, waiting to retry): a run waits for none.
OPEN_STATUSES = tuple(status.value for status in OperationStatus if status not in FINAL)


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """What to seed: `transfers` one-time transfers due between `due_at - spread` and
    `due_at` (whole seconds, UTC), from `debit_accounts` accounts to `credit_accounts`
    payees per currency. The first `underfunded_fraction` of the debit accounts hold
    nothing, so their transfers are declined for insufficient funds; the others hold
    exactly what their transfers need. `reminders` (ISO 8601 durations, shorter than
    `lead`) give each transfer reminders; the schedules are created `lead` before the
    earliest due time."""

    transfers: int
    due_at: datetime
    spread: timedelta = timedelta(seconds=30)
    debit_accounts: int = 100
    credit_accounts: int = 4
    currencies: tuple[str, ...] = ("EUR",)
    underfunded_fraction: float = 0.0
    reminders: tuple[str, ...] = ()
    lead: timedelta = timedelta(minutes=10)
    chunk_size: int = 5000

    def __post_init__(self) -> None:
        if self.transfers < 1 or self.debit_accounts < 1 or self.credit_accounts < 1:
            raise ValueError("transfers and account counts must be positive")
        if not self.currencies:
            raise ValueError("at least one currency")
        if not 0.0 <= self.underfunded_fraction <= 1.0:
            raise ValueError("underfunded_fraction must be between 0 and 1")
        if self.due_at.tzinfo is None:
            raise ValueError("due_at must be timezone-aware")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be positive")

    @property
    def created_at(self) -> datetime:
        """When the schedules are created: `lead` before the earliest due time."""
        return _whole_seconds(self.due_at) - self.spread - self.lead

    def debit_account(self, index: int) -> str:
        """Id of debit account `index`."""
        return f"DEBIT-{self.currency_of(index)}-{index:07d}"

    def customer(self, account_index: int) -> str:
        """The customer who holds debit account `account_index`."""
        return f"customer-{account_index:07d}"

    def credit_account(self, currency_code: str, index: int) -> str:
        """Id of the `index`-th payee account in `currency_code`."""
        return f"CREDIT-{currency_code}-{index:03d}"

    def currency_of(self, account_index: int) -> str:
        """Currency of debit account `account_index` (round-robin over `currencies`)."""
        return self.currencies[account_index % len(self.currencies)]

    def underfunded(self, account_index: int) -> bool:
        """Whether debit account `account_index` is left without funds."""
        return account_index < round(self.debit_accounts * self.underfunded_fraction)

    def transfer(self, number: int) -> Transfer:
        """Transfer `number` (0-based): accounts, amount and due time."""
        account_index = number % self.debit_accounts
        currency_code = self.currency_of(account_index)
        spread = int(self.spread.total_seconds())
        back = (number * spread) // self.transfers if spread else 0
        return Transfer(
            debit_account=self.debit_account(account_index),
            credit_account=self.credit_account(currency_code, number % self.credit_accounts),
            # 100 to 999 minor units (1.00 to 9.99 EUR; 100 to 999 JPY).
            amount=Money.of(
                (100 + (number * 37) % 900) * currency(currency_code).smallest_unit, currency_code
            ),
            due_at=_whole_seconds(self.due_at) - timedelta(seconds=back),
            customer_id=self.customer(account_index),
            reference=f"bench transfer {number}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """One seeded one-time transfer."""

    debit_account: str
    credit_account: str
    amount: Money
    due_at: datetime
    customer_id: str
    reference: str

    def document(self, reminders: Sequence[str]) -> dict[str, Any]:
        """The schedule as a channel would send it (`ScheduleIn`): in UTC, on the day
        asked whatever the weekday (convention `none`)."""
        return {
            "kind": "one_time_transfer",
            "debit_account": self.debit_account,
            "credit_account": self.credit_account,
            "amount": {"value": str(self.amount.amount), "currency": self.amount.currency.code},
            "start_date": self.due_at.date().isoformat(),
            "time_of_day": self.due_at.time().isoformat(),
            "time_zone": "UTC",
            "business_days": {"convention": "none"},
            "reminders": list(reminders),
            "reference": self.reference,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Seeded:
    """What `seed` stored: counts, and the money each account starts with and owes."""

    schedules: int
    operations: int
    reminders: int
    created_at: datetime
    earliest_due_at: datetime
    latest_due_at: datetime
    #: Opening balance of every customer account (debit and payee), by account id.
    opening_balances: Mapping[str, Decimal]
    #: Sum of the transfers each debit account pays, by account id.
    owed_by_account: Mapping[str, Decimal]
    #: Sum of the fundable transfers each payee account receives, by account id.
    receivable_by_account: Mapping[str, Decimal]
    #: Sum of the opening balances per currency (customer accounts only).
    funded_by_currency: Mapping[str, Decimal]
    underfunded_accounts: frozenset[str]
    #: Transfers whose debit account holds enough: these should all succeed.
    fundable_transfers: int
    seconds: float

    def final_balances(self) -> dict[str, Decimal]:
        """Each customer account's balance once every fundable transfer has succeeded
        and every other one has been declined."""
        return {
            account_id: opening
            - (Decimal(0) if account_id in self.underfunded_accounts else self.owed(account_id))
            + self.receivable_by_account.get(account_id, Decimal(0))
            for account_id, opening in self.opening_balances.items()
        }

    def owed(self, account_id: str) -> Decimal:
        """What debit account `account_id` pays in all (zero for a payee)."""
        return self.owed_by_account.get(account_id, Decimal(0))


def seed(engine: sa.Engine, workload: Workload, *, processes: int = 1) -> Seeded:
    """Open the workload's ledger accounts and store its schedules and operations (the
    schema must exist: `migrate.upgrade`). Returns what was stored.

    With `processes` > 1 the schedules are created by that many processes, each on its
    own range of transfers and its own engine built from `engine.url` (so not for an
    engine that authenticates with an Entra ID credential)."""
    began = time.perf_counter()
    owed: dict[str, Decimal] = {}
    receivable: dict[str, Decimal] = {}
    fundable = 0
    for number in range(workload.transfers):
        transfer = workload.transfer(number)
        amount = transfer.amount.amount
        owed[transfer.debit_account] = owed.get(transfer.debit_account, Decimal(0)) + amount
        if not workload.underfunded(number % workload.debit_accounts):
            fundable += 1
            credit = transfer.credit_account
            receivable[credit] = receivable.get(credit, Decimal(0)) + amount
    opening = _open_accounts(engine, workload, owed)
    with Progress("seeding", total=workload.transfers, unit="schedules") as progress:
        counts = _store_schedules(engine, workload, processes, progress)
    due = [workload.transfer(number).due_at for number in (0, workload.transfers - 1)]
    funded: dict[str, Decimal] = {}
    for balance in opening.values():
        code = balance.currency.code
        funded[code] = funded.get(code, Decimal(0)) + balance.amount
    return Seeded(
        schedules=workload.transfers,
        operations=counts["operation"],
        reminders=counts["operation"] - workload.transfers,
        created_at=workload.created_at,
        earliest_due_at=min(due),
        latest_due_at=max(due),
        opening_balances={account_id: m.amount for account_id, m in opening.items()},
        owed_by_account=owed,
        receivable_by_account=receivable,
        funded_by_currency=funded,
        underfunded_accounts=frozenset(
            workload.debit_account(index)
            for index in range(workload.debit_accounts)
            if workload.underfunded(index)
        ),
        fundable_transfers=fundable,
        seconds=time.perf_counter() - began,
    )


def _open_accounts(
    engine: sa.Engine, workload: Workload, owed: Mapping[str, Decimal]
) -> dict[str, Money]:
    """Open every debit account (funded with what it owes unless underfunded) and every
    payee account (empty). Returns the opening balances."""
    book = ledger.Ledger(engine, SteppingClock(workload.created_at))
    opening: dict[str, Money] = {}
    for index in range(workload.debit_accounts):
        account_id = workload.debit_account(index)
        code = workload.currency_of(index)
        amount = Decimal(0) if workload.underfunded(index) else owed.get(account_id, Decimal(0))
        opening[account_id] = Money.of(amount, code)
        book.open_account(
            account_id, workload.customer(index), code, opening_balance=opening[account_id]
        )
    for code in dict.fromkeys(workload.currencies):
        for index in range(workload.credit_accounts):
            account_id = workload.credit_account(code, index)
            opening[account_id] = Money.zero(code)
            book.open_account(account_id, f"payee-{code}-{index:03d}", code)
    return opening


def _store_schedules(
    engine: sa.Engine, workload: Workload, processes: int, progress: Progress
) -> dict[str, int]:
    """Create every schedule through `create_schedule`, in `processes` processes,
    counting them on `progress` (a chunk, or a process's range, at a time). Returns the
    rows written per table."""
    if processes <= 1:
        return _store_range(engine, workload, 0, workload.transfers, progress)
    url = engine.url.render_as_string(hide_password=False)
    bounds = [workload.transfers * i // processes for i in range(processes + 1)]
    written: dict[str, int] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        for counts in pool.map(
            _store_range_at, [url] * processes, [workload] * processes, bounds[:-1], bounds[1:]
        ):
            for name, count in counts.items():
                written[name] = written.get(name, 0) + count
            progress.advance(counts.get(tables.schedule.name, 0))
    return written


def _store_range_at(url: str, workload: Workload, start: int, stop: int) -> dict[str, int]:
    """`_store_range` in a process of its own, on an engine of its own."""
    engine = create_engine(url)
    try:
        return _store_range(engine, workload, start, stop)
    finally:
        engine.dispose()


def _store_range(
    engine: sa.Engine,
    workload: Workload,
    start: int,
    stop: int,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Create the schedules of transfers `start` to `stop` (excluded), a chunk per
    transaction, counting each chunk on `progress`. Returns the rows written per table."""
    clock = SteppingClock(workload.created_at)
    collector = _RowCollector()
    uow = _BatchingUnitOfWork(collector)
    written: dict[str, int] = {}
    for chunk in range(start, stop, workload.chunk_size):
        for number in range(chunk, min(chunk + workload.chunk_size, stop)):
            _create_one(workload, number, uow, clock)
        for name, count in collector.flush(engine).items():
            written[name] = written.get(name, 0) + count
        if progress is not None:
            progress.advance(min(chunk + workload.chunk_size, stop) - chunk)
    return written


def _create_one(
    workload: Workload, number: int, uow: _BatchingUnitOfWork, clock: SteppingClock
) -> None:
    transfer = workload.transfer(number)
    parsed = schemas.ScheduleIn.model_validate(transfer.document(workload.reminders))
    schedule = parsed.to_schedule(
        schedule_id=uuid.uuid4(), customer_id=transfer.customer_id, created_at=clock.now()
    )
    create_schedule(
        CreateSchedule(
            schedule=schedule,
            definition=parsed.model_dump(mode="json"),
            channel=CHANNEL,
            actor=ACTOR,
        ),
        uow=uow,
        clock=clock,
        accounts=_Holders(workload),
    )


class _Holders:
    """Who holds which account in `workload`: the accounts `seed` opened, known without
    asking the ledger once per schedule (a million schedules would be a million reads)."""

    def __init__(self, workload: Workload) -> None:
        self._workload = workload

    def holds(self, customer_id: str, account_id: str) -> bool:
        number = account_id.rpartition("-")[2]
        if not number.isdigit() or int(number) >= self._workload.debit_accounts:
            return False
        index = int(number)
        return (account_id, customer_id) == (
            self._workload.debit_account(index),
            self._workload.customer(index),
        )


class _RowCollector:
    """Stands in for a connection under the SQL repositories and keeps the rows they
    insert, in order, per table; `flush` writes them with one executemany per table.
    Anything but an INSERT is refused: creating a schedule only inserts."""

    def __init__(self) -> None:
        # A generic dialect: the repositories then hand their rows over as plain
        # INSERTs (no PostgreSQL COPY on a connection that is not one).
        self.dialect = sa.engine.default.DefaultDialect()
        self.rows: dict[sa.Table, list[dict[str, Any]]] = {}

    def execute(
        self,
        statement: sa.Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if not isinstance(statement, sa.Insert) or not isinstance(statement.table, sa.Table):
            raise TypeError(f"seeding expects only INSERTs, got {type(statement).__name__}")
        if parameters is None:
            rows = [_inserted_values(statement)]
        elif getattr(statement, "_values", None):
            raise TypeError("seeding expects values() or parameters, not both")
        elif isinstance(parameters, Mapping):
            rows = [dict(parameters)]
        else:
            rows = [dict(row) for row in parameters]
        self.rows.setdefault(statement.table, []).extend(rows)

    def mark(self) -> dict[sa.Table, int]:
        """How many rows each table holds now (to undo an uncommitted use case)."""
        return {table: len(rows) for table, rows in self.rows.items()}

    def undo_to(self, mark: Mapping[sa.Table, int]) -> None:
        """Drop the rows added since `mark`."""
        for table, rows in self.rows.items():
            del rows[mark.get(table, 0) :]

    def flush(self, engine: sa.Engine) -> dict[str, int]:
        """Insert the kept rows in one transaction, parents first; forget them."""
        written: dict[str, int] = {}
        with engine.begin() as connection:
            for table in tables.metadata.sorted_tables:
                rows = self.rows.get(table)
                if rows:
                    bulk.insert_rows(connection, table, rows)
                    written[table.name] = len(rows)
        self.rows.clear()
        return written


def _inserted_values(statement: sa.Insert) -> dict[str, Any]:
    """The column values of a single-row ``insert().values(...)``. Compiling the
    statement would give them too, at about 0.7 ms a row; the values are read off the
    statement instead, and compiled only when they are not plain values."""
    values = getattr(statement, "_values", None)
    if values and all(
        isinstance(key, str) and isinstance(value, BindParameter) for key, value in values.items()
    ):
        return {key: value.value for key, value in values.items()}
    return dict(statement.compile(dialect=None).params)


class _BatchingUnitOfWork:
    """A `UnitOfWork` whose transaction is a batch: the real SQL repositories write into
    a `_RowCollector`; a committed use case's rows stay for the next flush, an
    uncommitted one's are dropped."""

    def __init__(self, collector: _RowCollector) -> None:
        connection = cast(sa.Connection, collector)
        self._collector = collector
        self._mark: dict[sa.Table, int] | None = None
        self.schedules = SqlScheduleRepository(connection)
        self.operations = SqlOperationRepository(connection)
        self.history = SqlHistoryRepository(connection)
        self.outbox = SqlOutboxRepository(connection)
        self.idempotency = SqlIdempotencyRepository(connection)
        self.audit = SqlAuditRepository(connection)
        self.figures = SqlOperationsFigures(connection)

    def __enter__(self) -> Self:
        self._mark = self._collector.mark()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._mark is not None:
            self._collector.undo_to(self._mark)
        self._mark = None

    def commit(self) -> None:
        self._mark = None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        raise NotImplementedError("seeding creates schedules, which need no savepoint")
        yield  # pragma: no cover


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the store holds after a run, for checks and benchmark reports."""

    schedules_by_status: Mapping[str, int]
    #: Operations by (kind, status).
    operations: Mapping[tuple[str, str], int]
    #: Operations claimed more than once (a lease expired and was taken over).
    claimed_more_than_once: int
    max_attempts: int
    attempt_rows: int
    operations_with_attempt_rows: int
    max_attempt_rows_per_operation: int
    attempt_rows_by_worker: Mapping[str, int]
    #: Ledger entries between customer accounts (not funding from equity).
    transfer_entries: int
    #: Of those, entries whose key is a SUCCEEDED execution's id and that moved exactly
    #: that operation's money.
    entries_matching_succeeded: int
    #: Ledger entries booked before the history row of the operation's recorded attempt
    #: began: the gateway answered a repeated key with the first booking.
    entries_replayed: int
    #: Account id -> (currency, balance).
    balances: Mapping[str, tuple[str, Decimal]]
    #: Account id -> what funding, succeeded payments and succeeded receipts imply.
    expected_balances: Mapping[str, Decimal]
    #: Sum of customer balances per currency (equity accounts excluded).
    customer_totals: Mapping[str, Decimal]
    ledger: ledger.Reconciliation
    events_by_type: Mapping[str, int]
    audit_by_action: Mapping[str, int]
    operations_audited: int
    max_audit_records_per_operation: int
    seconds: float = field(default=0.0, compare=False)

    def count(self, *, kind: str | None = None, status: str | None = None) -> int:
        """Operations of `kind` (any when None) in `status` (any when None)."""
        return sum(
            n for (k, s), n in self.operations.items() if kind in (None, k) and status in (None, s)
        )

    @property
    def succeeded_transfers(self) -> int:
        return self.count(kind=_EXECUTION, status=_SUCCEEDED)

    @property
    def total_operations(self) -> int:
        return self.count()

    def mismatched_balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Customer accounts whose balance is not what their funding and the succeeded
        transfers imply: account id -> (balance, expected)."""
        return {
            account_id: (balance, self.expected_balances.get(account_id, Decimal(0)))
            for account_id, (_, balance) in self.balances.items()
            if not account_id.startswith(ledger.EQUITY_PREFIX)
            and balance != self.expected_balances.get(account_id, Decimal(0))
        }

    def problems(self) -> list[str]:
        """Every broken invariant, in words; empty when the store is consistent."""
        found: list[str] = []
        succeeded = self.succeeded_transfers
        if not self.ledger.ok:
            found.append(f"ledger does not reconcile: {self.ledger}")
        if self.transfer_entries != succeeded:
            found.append(f"{self.transfer_entries} transfer entries for {succeeded} successes")
        if self.entries_matching_succeeded != succeeded:
            found.append(
                f"{self.entries_matching_succeeded} entries match the {succeeded} succeeded "
                "transfers' ids and amounts"
            )
        if mismatched := self.mismatched_balances():
            sample = dict(list(mismatched.items())[:5])
            found.append(f"{len(mismatched)} balances differ from the transfers: {sample}")
        finished = (
            self.total_operations - self.count(status="pending") - self.count(status="claimed")
        )
        if self.operations_with_attempt_rows != finished:
            found.append(
                f"{self.operations_with_attempt_rows} operations have history rows, "
                f"{finished} have an outcome"
            )
        outcome_events = sum(self.events_by_type.get(t, 0) for t in OUTCOME_EVENT_TYPES)
        if outcome_events != self.attempt_rows:
            found.append(f"{outcome_events} outcome events for {self.attempt_rows} history rows")
        succeeded_events = self.events_by_type.get(EventType.EXECUTION_SUCCEEDED, 0)
        if succeeded_events != succeeded:
            found.append(f"{succeeded_events} execution.succeeded events for {succeeded}")
        operation_audits = sum(
            n for action, n in self.audit_by_action.items() if action.startswith("operation.")
        )
        if operation_audits != self.attempt_rows:
            found.append(f"{operation_audits} operation audit records, {self.attempt_rows} rows")
        return found


def unpublished(engine: sa.Engine) -> int:
    """Events in the outbox not yet published to the bus."""
    o = tables.outbox.c
    query = sa.select(sa.func.count()).where(o.published_at.is_(None))
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def reconcile(engine: sa.Engine) -> Facts:
    """Read the facts of the store behind `engine` (one query per fact, aggregated in
    the database, so it stays usable at a million operations)."""
    began = time.perf_counter()
    # Before our connection opens: on SQLite every transaction takes the write lock.
    books = ledger.Ledger(engine, SteppingClock(datetime.now(UTC))).reconcile()
    with engine.connect() as connection:
        operations, claimed_again, max_attempts = _operation_facts(connection)
        attempts = _attempt_facts(connection)
        entries, matching, replayed = _entry_facts(connection)
        balances, expected = _balance_facts(connection)
        audited, max_audit = _audit_subject_facts(connection)
        facts = Facts(
            schedules_by_status=_grouped(connection, tables.schedule.c.status),
            operations=operations,
            claimed_more_than_once=claimed_again,
            max_attempts=max_attempts,
            attempt_rows=attempts[0],
            operations_with_attempt_rows=attempts[1],
            max_attempt_rows_per_operation=attempts[2],
            attempt_rows_by_worker=_grouped(connection, tables.execution_attempt.c.worker),
            transfer_entries=entries,
            entries_matching_succeeded=matching,
            entries_replayed=replayed,
            balances=balances,
            expected_balances=expected,
            customer_totals=_customer_totals(balances),
            ledger=books,
            events_by_type=_grouped(connection, tables.outbox.c.event_type),
            audit_by_action=_grouped(connection, tables.audit_record.c.action),
            operations_audited=audited,
            max_audit_records_per_operation=max_audit,
        )
    return dataclasses.replace(facts, seconds=time.perf_counter() - began)


def _grouped(connection: sa.Connection, column: sa.Column[Any]) -> dict[str, int]:
    rows = connection.execute(sa.select(column, sa.func.count()).group_by(column))
    return {str(value): int(count) for value, count in rows}


def _operation_facts(connection: sa.Connection) -> tuple[dict[tuple[str, str], int], int, int]:
    o = tables.operation.c
    rows = connection.execute(
        sa.select(
            o.kind,
            o.status,
            sa.func.count(),
            sa.func.sum(sa.case((o.attempts > 1, 1), else_=0)),
            sa.func.max(o.attempts),
        ).group_by(o.kind, o.status)
    ).all()
    by_status = {(row[0], row[1]): int(row[2]) for row in rows}
    claimed_again = sum(int(row[3] or 0) for row in rows)
    max_attempts = max((int(row[4] or 0) for row in rows), default=0)
    return by_status, claimed_again, max_attempts


def _attempt_facts(connection: sa.Connection) -> tuple[int, int, int]:
    """History rows, operations having any, and the most rows any operation has."""
    h = tables.execution_attempt.c
    per_operation = (
        sa.select(h.operation_id, sa.func.count().label("rows")).group_by(h.operation_id).subquery()
    )
    row = connection.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(per_operation.c.rows), 0),
            sa.func.count(),
            sa.func.coalesce(sa.func.max(per_operation.c.rows), 0),
        ).select_from(per_operation)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def uuid_text(column: sa.ColumnElement[Any], dialect: sa.Dialect) -> sa.ColumnElement[str]:
    """`column` (a UUID) as the text `str(uuid)` gives, which is how the dispatcher
    writes an operation's id as the ledger's idempotency key."""
    if dialect.name == "sqlite":  # stored as 32 hex digits without hyphens
        parts = [sa.func.substr(column, start, length) for start, length in _UUID_GROUPS]
        text: sa.ColumnElement[str] = parts[0]
        for part in parts[1:]:
            text = text.concat("-").concat(part)
        return sa.func.lower(text)
    return sa.func.lower(sa.cast(column, sa.String(36)))


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


def _entry_facts(connection: sa.Connection) -> tuple[int, int, int]:
    """Entries between customer accounts; those matching a succeeded execution's key,
    accounts and amount; and those booked before the recorded attempt started."""
    e, o, h = tables.ledger_entry.c, tables.operation.c, tables.execution_attempt.c
    customer = sa.not_(e.debit_account.startswith(ledger.EQUITY_PREFIX))
    entries = connection.execute(
        sa.select(sa.func.count()).select_from(tables.ledger_entry).where(customer)
    ).scalar_one()
    matches = (
        sa.select(e.booked_at, o.id, o.attempts)
        .join(
            tables.operation,
            sa.and_(
                e.idempotency_key == uuid_text(o.id, connection.dialect),
                e.debit_account == o.debit_account,
                e.credit_account == o.credit_account,
                e.amount == o.amount,
                e.currency == o.currency,
            ),
        )
        .where(o.kind == _EXECUTION, o.status == _SUCCEEDED)
        .subquery()
    )
    matching = connection.execute(sa.select(sa.func.count()).select_from(matches)).scalar_one()
    replayed = connection.execute(
        sa.select(sa.func.count())
        .select_from(matches)
        .join(
            tables.execution_attempt,
            sa.and_(h.operation_id == matches.c.id, h.attempt == matches.c.attempts),
        )
        .where(matches.c.booked_at < h.started_at)
    ).scalar_one()
    return int(entries), int(matching), int(replayed)


def _balance_facts(
    connection: sa.Connection,
) -> tuple[dict[str, tuple[str, Decimal]], dict[str, Decimal]]:
    """Each account's balance, and what it should be: its funding from equity, less the
    succeeded transfers it paid, plus those it received (read from `operation`, not the
    ledger, so a booking without a recorded success shows up). Summed in Python, on
    `Decimal`: SQLite would sum its text amounts as floats."""
    a, e, o = tables.ledger_account.c, tables.ledger_entry.c, tables.operation.c
    balances = {
        row.id: (row.currency, row.balance)
        for row in connection.execute(sa.select(a.id, a.currency, a.balance))
    }
    expected: dict[str, Decimal] = {}

    def add(account_id: str, amount: Decimal) -> None:
        expected[account_id] = expected.get(account_id, Decimal(0)) + amount

    funding = sa.select(e.credit_account, e.amount).where(
        e.debit_account.startswith(ledger.EQUITY_PREFIX)
    )
    for credit, amount in connection.execute(funding, execution_options=_STREAM):
        add(credit, amount)
    succeeded = sa.select(o.debit_account, o.credit_account, o.amount).where(
        o.kind == _EXECUTION, o.status == _SUCCEEDED
    )
    for debit, credit, amount in connection.execute(succeeded, execution_options=_STREAM):
        add(debit, -amount)
        add(credit, amount)
    return balances, expected


_STREAM = {"yield_per": 10_000}


def _customer_totals(balances: Mapping[str, tuple[str, Decimal]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for account_id, (code, balance) in balances.items():
        if not account_id.startswith(ledger.EQUITY_PREFIX):
            totals[code] = totals.get(code, Decimal(0)) + balance
    return totals


def _audit_subject_facts(connection: sa.Connection) -> tuple[int, int]:
    """Operations with audit records, and the most records any operation has."""
    r = tables.audit_record.c
    per_subject = (
        sa.select(r.subject_id, sa.func.count().label("records"))
        .where(r.subject_type == "operation")
        .group_by(r.subject_id)
        .subquery()
    )
    row = connection.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(per_subject.c.records), 0))
    ).one()
    return int(row[0]), int(row[1])


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def main(argv: Sequence[str] | None = None) -> None:
    """Seed a database (migrated first) and print what was stored and how fast."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--transfers", type=int, default=20_000)
    parser.add_argument("--debit-accounts", type=int, default=100)
    parser.add_argument("--underfunded-fraction", type=float, default=0.0)
    parser.add_argument("--reminder", action="append", default=[], help="e.g. PT5M")
    parser.add_argument("--processes", type=int, default=1, help="processes creating schedules")
    parser.add_argument("--reconcile", action="store_true", help="print the store's facts")
    args = parser.parse_args(argv)
    engine = create_engine(args.database_url)
    try:
        if args.reconcile:
            facts = reconcile(engine)
            print(f"reconciled in {facts.seconds:.2f} s: {dict(facts.operations)}")
            print("\n".join(facts.problems()) or "no problems")
            return
        migrate.upgrade(engine)
        workload = Workload(
            transfers=args.transfers,
            due_at=datetime.now(UTC),
            debit_accounts=args.debit_accounts,
            underfunded_fraction=args.underfunded_fraction,
            reminders=tuple(args.reminder),
        )
        seeded = seed(engine, workload, processes=args.processes)
        rate = seeded.schedules / seeded.seconds
        print(
            f"seeded {seeded.schedules} transfers ({seeded.operations} operations) "
            f"in {seeded.seconds:.2f} s: {rate:.0f} schedules/s"
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
