"""`tsched preview` and `tsched examples`: plan schedules without storing anything."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scheduler import demo
from scheduler.api import schemas
from scheduler.cli import output
from scheduler.cli.output import Commands
from scheduler.domain import plan


def register(commands: Commands) -> None:
    """Add `preview` and `examples`."""
    preview = commands.add_parser(
        "preview",
        help="list the next executions and reminders of a schedule without saving it",
        description="Give the schedule as a JSON document (the HTTP API's shape) with "
        "--file, or with flags.",
    )
    preview.add_argument("--file", type=Path, help="schedule JSON document; - for stdin")
    _add_schedule_flags(preview)
    _add_output_flags(preview)
    preview.set_defaults(run=_run_preview)

    examples = commands.add_parser(
        "examples", help="preview a few typical schedules: the 31st, DST nights, bank holidays"
    )
    _add_output_flags(examples)
    examples.set_defaults(run=_run_examples)


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n",
        "--count",
        type=_preview_count,
        default=6,
        help=f"executions to list, 1 to {plan.MAX_PREVIEW} (default 6)",
    )
    parser.add_argument(
        "--after",
        type=datetime.fromisoformat,
        help="list executions due after this RFC 3339 instant (default: now)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _preview_count(text: str) -> int:
    """An argparse type: how many executions to list, at most the API's cap."""
    count = output.positive(text)
    if count > plan.MAX_PREVIEW:
        raise argparse.ArgumentTypeError(
            f"at most {plan.MAX_PREVIEW} executions per preview (the HTTP API's cap too)"
        )
    return count


def _add_schedule_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("schedule flags (when no --file)")
    group.add_argument("--kind", choices=["one_time_transfer", "recurring_payment"])
    group.add_argument("--from", dest="debit_account", default="DEBIT-ACCOUNT")
    group.add_argument("--to", dest="credit_account", default="CREDIT-ACCOUNT")
    group.add_argument("--amount", default="100.00", help="decimal string, e.g. 120.50")
    group.add_argument("--currency", default="EUR", help="ISO 4217 code")
    group.add_argument("--start", dest="start_date", help="first date, YYYY-MM-DD")
    group.add_argument("--time", dest="time_of_day", default="09:00", help="local HH:MM")
    group.add_argument("--zone", dest="time_zone", default="Europe/London", help="IANA zone")
    group.add_argument("--frequency", choices=["daily", "weekly", "monthly", "quarterly", "yearly"])
    group.add_argument("--interval", type=int)
    group.add_argument("--weekdays", help="comma-separated, e.g. MO,WE,FR")
    group.add_argument("--day-of-month", type=int, help="1-31, or -1 for the last day")
    group.add_argument("--month", type=int, help="1-12, for yearly")
    group.add_argument("--until", help="last possible date, YYYY-MM-DD")
    group.add_argument("--occurrences", type=int, help="number of executions in all")
    group.add_argument("--calendar", help="holiday calendar: GB-ENG, US-NY, TARGET, ...")
    group.add_argument(
        "--convention", choices=["none", "following", "modified_following", "preceding"]
    )
    group.add_argument("--reminders", help="comma-separated ISO 8601 durations; '' for none")


def _document_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    recurrence = {
        "frequency": args.frequency,
        "interval": args.interval,
        "weekdays": args.weekdays.split(",") if args.weekdays else None,
        "day_of_month": args.day_of_month,
        "month": args.month,
        "until": args.until,
        "count": args.occurrences,
    }
    business_days = {"calendar": args.calendar, "convention": args.convention}
    document: dict[str, Any] = {
        "kind": args.kind or ("recurring_payment" if args.frequency else "one_time_transfer"),
        "debit_account": args.debit_account,
        "credit_account": args.credit_account,
        "amount": {"value": args.amount, "currency": args.currency},
        "start_date": args.start_date,
        "time_of_day": args.time_of_day,
        "time_zone": args.time_zone,
        "business_days": _without_none(business_days),
    }
    if args.frequency:
        document["recurrence"] = _without_none(recurrence)
    if args.reminders is not None:
        document["reminders"] = [text for text in args.reminders.split(",") if text]
    return document


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _run_preview(args: argparse.Namespace) -> int:
    if args.file is not None:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8")
        document = schemas.ScheduleIn.model_validate_json(text)
    else:
        document = schemas.ScheduleIn.model_validate(_document_from_flags(args))
    executions = _preview(document, args)
    if args.json:
        output.print_json([execution.model_dump(mode="json") for execution in executions])
    else:
        print(_table(executions))
    return 0


def _run_examples(args: argparse.Namespace) -> int:
    previews = []
    for title, document in demo.EXAMPLES:
        executions = _preview(schemas.ScheduleIn.model_validate(document), args)
        previews.append((title, document, executions))
    if args.json:
        output.print_json(
            [
                {
                    "title": title,
                    "schedule": document,
                    "executions": [execution.model_dump(mode="json") for execution in executions],
                }
                for title, document, executions in previews
            ]
        )
        return 0
    for title, _, executions in previews:
        print(f"== {title}")
        print(_table(executions))
        print()
    return 0


def _preview(
    document: schemas.ScheduleIn, args: argparse.Namespace
) -> list[schemas.PlannedExecutionOut]:
    now = datetime.now(UTC)
    schedule = document.to_schedule(schedule_id=uuid.uuid4(), customer_id="preview", created_at=now)
    after = args.after or now
    return [
        schemas.PlannedExecutionOut.of(planned)
        for planned in plan.preview(schedule, args.count, after=after)
    ]


def _table(executions: Sequence[schemas.PlannedExecutionOut]) -> str:
    header = ("#", "nominal", "executes", "local time", "UTC", "note", "reminders (local)")
    rows = [header]
    for item in executions:
        note = "; ".join(
            part
            for part in (
                item.holiday or "",
                "" if item.dst_resolution == "exact" else item.dst_resolution.replace("_", " "),
            )
            if part
        )
        rows.append(
            (
                str(item.index),
                item.nominal_date.isoformat(),
                item.execution_date.isoformat(),
                item.execute_at_local.strftime("%Y-%m-%d %H:%M %Z"),
                item.execute_at_utc.strftime("%Y-%m-%d %H:%MZ"),
                note,
                ", ".join(f"{r.offset}: {r.due_at_local:%m-%d %H:%M}" for r in item.reminders),
            )
        )
    if len(rows) == 1:
        return "(no executions)"
    return output.table(rows)
