"""`tsched demo`: open accounts, create schedules, and run two months of them.

The demo runs the dispatcher's own pass (`runner.run_cycle`) on a clock that jumps to
the next due operation instead of waiting for it, so months pass in seconds while every
operation still runs exactly as `tsched serve` would run it. It prints each event as it
lands in the outbox, then the balances and the audit trail's state.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime
from pathlib import Path
from uuid import UUID

from scheduler import bootstrap, demo, runner
from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import migrate
from scheduler.api import schemas
from scheduler.cli.output import Commands
from scheduler.clocks import SteppingClock
from scheduler.config import Settings
from scheduler.domain.events import Event, EventType
from scheduler.domain.money import Money
from scheduler.progress import Progress
from scheduler.service.create_schedule import CreateSchedule, create_schedule
from scheduler.service.verify_audit import verify_audit

DEFAULT_DATABASE = Path("tsched-demo.sqlite3")


def register(commands: Commands) -> None:
    """Add `demo`."""
    command = commands.add_parser(
        "demo",
        help="run a few schedules through two months on a fresh SQLite file, printing "
        "reminders, payments, retries and failures as they happen",
    )
    command.add_argument(
        "--database",
        type=Path,
        default=DEFAULT_DATABASE,
        help=f"SQLite file to (re)create (default {DEFAULT_DATABASE})",
    )
    command.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    database: Path = args.database
    for leftover in (database, *(Path(f"{database}{suffix}") for suffix in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite:///{database}", kafka_bootstrap_servers="")
    clock = SteppingClock(demo.DEMO_START)
    runtime = bootstrap.build(settings.model_copy(update={"core_banking_url": None}), clock=clock)
    try:
        migrate.upgrade(runtime.engine)
        ledger = runtime.ledger
        if ledger is None:
            raise RuntimeError("the demo pays through the embedded ledger")
        _open_accounts(ledger)
        labels = _create_schedules(runtime, clock)
        print(f"== {clock.now():%Y-%m-%d %H:%MZ}: {len(labels)} schedules created")
        last_seen = _print_events(runtime, labels, after=0)
        loop = runner.LoopSettings()
        days = (demo.DEMO_END - demo.DEMO_START).days
        with Progress("simulated", total=days, unit="days") as progress:
            while True:
                cycle = runner.run_cycle(runtime, loop)
                last_seen = _print_events(runtime, labels, after=last_seen, progress=progress)
                if cycle.busy:
                    continue
                with runtime.unit_of_work() as uow:
                    next_due = uow.operations.next_due_at()
                if next_due is None or next_due >= demo.DEMO_END:
                    break
                clock.advance_to(next_due)
                progress.set((next_due - demo.DEMO_START).days)
            progress.set(days)
        _print_summary(runtime, ledger)
    finally:
        runtime.close()
    print(
        f"\nThe store is {database}; explore it with\n"
        f"  DATABASE_URL=sqlite:///{database} tsched events --all\n"
        f"  DATABASE_URL=sqlite:///{database} tsched audit verify"
    )
    return 0


def _open_accounts(ledger: Ledger) -> None:
    for account in demo.DEMO_ACCOUNTS:
        ledger.open_account(
            account.account_id,
            account.customer_id,
            account.currency,
            opening_balance=Money.of(account.opening_balance, account.currency),
        )


def _create_schedules(runtime: bootstrap.Runtime, clock: SteppingClock) -> dict[UUID, str]:
    labels: dict[UUID, str] = {}
    for item in demo.DEMO_SCHEDULES:
        document = schemas.ScheduleIn.model_validate(item.document)
        schedule = document.to_schedule(
            schedule_id=uuid.uuid4(), customer_id=item.customer_id, created_at=clock.now()
        )
        create_schedule(
            CreateSchedule(
                schedule=schedule,
                definition=document.model_dump(mode="json"),
                channel="demo",
                actor=f"customer:{item.customer_id}",
            ),
            uow=runtime.unit_of_work(),
            clock=clock,
            accounts=runtime.accounts,
        )
        labels[schedule.id] = item.label
    return labels


def _print_events(
    runtime: bootstrap.Runtime,
    labels: dict[UUID, str],
    *,
    after: int,
    progress: Progress | None = None,
) -> int:
    while True:
        with runtime.unit_of_work() as uow:
            page = uow.outbox.after(after, 500)
        if not page:
            return after
        if progress is not None:
            progress.clear()
        for stored in page:
            print(describe_event(stored.event, labels.get(stored.event.schedule_id, "?")))
        after = page[-1].outbox_id


def describe_event(event: Event, label: str) -> str:
    """One line for a person: when, what happened, to which schedule, and why."""
    data = event.data
    amount = data["amount"]
    what = f"{label:<10} {amount['currency']} {amount['value']:>10}"
    detail = ""
    if event.type is EventType.SCHEDULE_CREATED:
        detail = f"first execution {_utc(data['first_due_at'])}"
    elif event.type is EventType.REMINDER_DUE:
        detail = f"{data['reminder_offset']} before the execution of {data['execution_date']}"
    elif event.type is EventType.EXECUTION_SUCCEEDED:
        detail = f"executed {data['execution_date']} (ref {data['gateway_reference']})"
    elif event.type is EventType.EXECUTION_RETRY_SCHEDULED:
        detail = f"{data['error_code']}; retry at {_utc(data['retry_at'])}"
    elif "error_code" in data:
        detail = f"{data['error_code']}: {data['recommended_action'] or data['reason']}"
    name = event.type.value.removeprefix("com.tsched.").removesuffix(".v1")
    return f"{event.occurred_at:%Y-%m-%d %H:%MZ}  {name:<27} {what}  {detail}".rstrip()


def _utc(text: str) -> str:
    return f"{datetime.fromisoformat(text):%Y-%m-%d %H:%MZ}"


def _print_summary(runtime: bootstrap.Runtime, ledger: Ledger) -> None:
    print(f"\n== {runtime.clock.now():%Y-%m-%d %H:%MZ}: balances")
    for account in demo.DEMO_ACCOUNTS:
        balance = ledger.balance(account.account_id)
        print(f"  {account.account_id:<24} {account.customer_id:<10} {balance}")
    reconciliation = ledger.reconcile()
    print(f"ledger reconciles: {reconciliation.ok}")
    report = verify_audit(uow=runtime.unit_of_work())
    print(
        f"audit trail: {report.records_checked} records in {report.blocks_checked} blocks, "
        f"{'intact' if report.ok else 'BROKEN'}; {report.unsealed_records} not sealed yet"
    )
