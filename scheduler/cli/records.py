"""`tsched events` and `tsched audit verify`: read what the scheduler recorded."""

from __future__ import annotations

import argparse

from scheduler import bootstrap
from scheduler.adapters import cloudevents
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.cli import output
from scheduler.cli.output import Commands
from scheduler.config import load_settings
from scheduler.domain.events import StoredEvent
from scheduler.service.verify_audit import verify_audit

EXIT_AUDIT_BROKEN = 1


def register(commands: Commands) -> None:
    """Add `events` and `audit verify`."""
    events = commands.add_parser(
        "events",
        help="list events in the outbox (all of them when Kafka is not configured)",
    )
    events.add_argument("--all", action="store_true", help="published ones too")
    events.add_argument("--after", type=int, default=0, help="only outbox ids above this")
    events.add_argument("-n", "--limit", type=output.positive, default=50)
    events.add_argument("--json", action="store_true", help="print CloudEvents-shaped JSON")
    events.set_defaults(run=_run_events)

    audit = commands.add_parser("audit", help="the tamper-evident audit trail")
    audit_commands = audit.add_subparsers(required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify",
        help="recompute every sealed block; report the first broken one and the unsealed tail",
    )
    verify.set_defaults(run=_run_verify)


def _unit_of_work() -> SqlUnitOfWork:
    return SqlUnitOfWork(bootstrap.store_engine(load_settings()))


def _run_events(args: argparse.Namespace) -> int:
    with _unit_of_work() as uow:
        stored = uow.outbox.after(args.after, args.limit, unpublished_only=not args.all)
    if args.json:
        output.print_json([cloudevents.to_cloudevent(item.event) for item in stored])
    elif stored:
        print(events_table(stored))
    return 0


def events_table(stored: list[StoredEvent]) -> str:
    """Events as a table: outbox id, time, type, schedule and the salient data."""
    rows = [("id", "occurred (UTC)", "type", "schedule", "status", "amount", "detail")]
    for item in stored:
        event = item.event
        data = event.data
        amount = data.get("amount") or {}
        rows.append(
            (
                str(item.outbox_id),
                f"{event.occurred_at:%Y-%m-%d %H:%M}",
                event.type.value.removeprefix("com.tsched.").removesuffix(".v1"),
                str(event.schedule_id)[:8],
                str(data.get("status", "")),
                f"{amount.get('currency', '')} {amount.get('value', '')}".strip(),
                str(data.get("error_code") or data.get("reminder_offset") or ""),
            )
        )
    return output.table(rows)


def _run_verify(_args: argparse.Namespace) -> int:
    report = verify_audit(uow=_unit_of_work())
    print(
        f"checked {report.blocks_checked} blocks holding {report.records_checked} records; "
        f"{report.unsealed_records} records not sealed yet"
    )
    if report.first_broken is not None:
        broken = report.first_broken
        print(f"BROKEN: block {broken.block_no} ({broken.reason.value})")
        return EXIT_AUDIT_BROKEN
    print("the chain is intact")
    return 0
