"""`tsched events` and `tsched audit verify`: read what the scheduler recorded."""

from __future__ import annotations

import argparse

from scheduler import bootstrap
from scheduler.adapters import cloudevents
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.cli import output
from scheduler.cli.output import Commands
from scheduler.clocks import SystemClock
from scheduler.config import load_settings
from scheduler.domain.events import StoredEvent
from scheduler.service.verify_audit import BreakReason, BrokenBlock, verify_audit

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
        help=(
            "recompute every sealed block; report the first broken one, the records in it"
            " that differ, and the unsealed tail"
        ),
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
    # Blocks whose records left SQL for the archive are verified from the archive.
    archive = bootstrap.history_archive(load_settings(), SystemClock())
    try:
        report = verify_audit(uow=_unit_of_work(), archive=archive)
    finally:
        if archive is not None:
            archive.close()
    from_archive = (
        f" ({report.blocks_from_archive} read from the archive)"
        if report.blocks_from_archive
        else ""
    )
    print(
        f"checked {report.blocks_checked} blocks{from_archive} holding "
        f"{report.records_checked} records; {report.unsealed_records} records not sealed yet"
    )
    if report.first_broken is not None:
        broken = report.first_broken
        for line in _broken_records_lines(broken):
            print(line)
        # Last, and unchanged from before records were named: scripts read this line.
        print(f"BROKEN: block {broken.block_no} ({broken.reason.value})")
        return EXIT_AUDIT_BROKEN
    print("the chain is intact")
    return 0


def _broken_records_lines(broken: BrokenBlock) -> list[str]:
    """The records of a broken block that differ from its hash list, one line per kind
    that has any, seqs in ascending runs (`5, 7-9`); or why they cannot be named."""
    if not broken.records_named:
        if broken.reason in (BreakReason.COUNT_MISMATCH, BreakReason.RECORDS_DIGEST_MISMATCH):
            return [
                f"records not named: block {broken.block_no} was sealed before blocks kept "
                "a hash list; compare its records by hand"
            ]
        return []
    kinds = (
        ("changed", broken.changed_seqs, "content no longer matches its sealed hash"),
        ("missing", broken.missing_seqs, f"sealed in block {broken.block_no}, now gone"),
        ("added", broken.added_seqs, f"in block {broken.block_no}, never sealed there"),
    )
    return [f"{kind}: seq {_runs(seqs)} ({why})" for kind, seqs, why in kinds if seqs]


def _runs(seqs: tuple[int, ...]) -> str:
    """Ascending seqs as runs of consecutive numbers: (1, 2, 3, 7) -> "1-3, 7"."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][-1] + 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
