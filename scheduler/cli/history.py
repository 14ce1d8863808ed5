"""`tsched history export`: a customer's execution history to a CSV or PDF file, with
the filters, the row cap, the masking and the audit record of the API's download.

Run by operations staff on a host that can reach the store, so the read is privileged:
it leaves a `history.exported` audit record naming the operating-system user, as the
API's records name the channel. Progress (attempts written, rate, time left) is drawn on
the terminal while the file is written.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

from scheduler import bootstrap
from scheduler.api import schemas
from scheduler.api.exports import csv_file, pdf_report
from scheduler.api.history_routes import MAX_EXPORT_ROWS, export_pages, history_filter
from scheduler.cli.output import Commands
from scheduler.config import load_settings
from scheduler.domain.operation import OperationStatus
from scheduler.progress import Progress
from scheduler.service.record_read import Reader, record_read

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def register(commands: Commands) -> None:
    """Add `history export`."""
    history = commands.add_parser("history", help="the execution history")
    actions = history.add_subparsers(required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write a customer's attempts, latest first, to a CSV or PDF file (audited)",
    )
    export.add_argument("--customer", required=True, help="whose attempts")
    export.add_argument("--format", choices=("csv", "pdf"), default="csv")
    export.add_argument(
        "-o", "--output", type=Path, required=True, help="the file to write ('-': stdout)"
    )
    export.add_argument("--schedule", type=UUID, help="one schedule's attempts")
    export.add_argument("--status", choices=[status.value for status in OperationStatus])
    export.add_argument("--from", dest="finished_from", type=datetime.fromisoformat)
    export.add_argument("--to", dest="finished_before", type=datetime.fromisoformat)
    export.add_argument("--amount-min")
    export.add_argument("--amount-max")
    export.add_argument("--currency", type=_currency)
    export.set_defaults(run=_run_export)


def _currency(text: str) -> str:
    if not _CURRENCY.fullmatch(text):
        raise argparse.ArgumentTypeError("a currency is three capital letters, such as EUR")
    return text


def _run_export(args: argparse.Namespace) -> int:
    filters = history_filter(
        schedule_id=args.schedule,
        status=OperationStatus(args.status) if args.status else None,
        finished_from=args.finished_from,
        finished_before=args.finished_before,
        amount_min=args.amount_min,
        amount_max=args.amount_max,
        currency=args.currency,
    )
    runtime = bootstrap.build(load_settings())
    try:
        query = filters.of(args.customer)
        now = runtime.clock.now()
        with runtime.unit_of_work() as uow:
            matching = uow.history.count_for_customer(query, at_most=MAX_EXPORT_ROWS)
            reader = Reader(
                actor=f"cli:{getpass.getuser()}", customer_id=args.customer, privileged=True
            )
            details: dict[str, object] = {
                "filters": filters.described(),
                "format": args.format,
                "rows": matching,
                "delivery": "file",
            }
            record_read(
                uow,
                reader=reader,
                at=now,
                action="history.exported",
                subject_type="execution_attempt",
                details=details,
            )
            uow.commit()
        pages = export_pages(runtime, query, cap=MAX_EXPORT_ROWS)
        with Progress("exporting", total=matching, unit="attempts") as progress:
            shown = _counted(pages, progress)
            chunks = (
                csv_file.csv_chunks(shown)
                if args.format == "csv"
                else pdf_report.pdf_chunks(
                    shown,
                    customer_id=args.customer,
                    filters=filters.described(),
                    generated_at=now,
                )
            )
            _write(args.output, chunks)
    finally:
        runtime.close()
    if args.output != Path("-"):
        print(f"{progress.done:,} attempts of {args.customer} written to {args.output}")
    return 0


def _counted(
    pages: Iterator[list[schemas.HistoryEntryOut]], progress: Progress
) -> Iterator[list[schemas.HistoryEntryOut]]:
    for page in pages:
        yield page
        progress.advance(len(page))


def _write(output: Path, chunks: Iterator[bytes]) -> None:
    if output == Path("-"):
        _copy(chunks, sys.stdout.buffer)
        return
    # Written aside and renamed once whole: a failed export leaves no half a file.
    partial = output.with_name(f".{output.name}.partial")
    try:
        with partial.open("wb") as file:
            _copy(chunks, file)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def _copy(chunks: Iterator[bytes], out: BinaryIO) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()
