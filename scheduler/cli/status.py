"""`tsched status`: the operations page's figures in the terminal, once or every few
seconds (`--watch`), read from the store `DATABASE_URL` names."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from scheduler import bootstrap
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.api.ops_schemas import OpsStatusOut
from scheduler.cli import output
from scheduler.cli.output import Commands
from scheduler.clocks import SystemClock
from scheduler.config import load_settings
from scheduler.service.operations_status import operations_status

#: Clears the terminal and moves to its top, between two `--watch` frames.
CLEAR = "\033[H\033[2J"


def register(commands: Commands) -> None:
    """Add `status`."""
    status = commands.add_parser(
        "status",
        help="what is due, the dispatch lag, failures, the outbox and the audit trail, now",
    )
    status.add_argument(
        "--watch",
        type=output.positive_float,
        metavar="SECONDS",
        help="print the figures again every SECONDS until interrupted",
    )
    status.add_argument("--json", action="store_true", help="print GET /v1/ops/status's JSON")
    status.set_defaults(run=_run_status)


def _run_status(args: argparse.Namespace) -> int:
    settings = load_settings()
    uow = SqlUnitOfWork(bootstrap.store_engine(settings))

    def read() -> OpsStatusOut:
        return OpsStatusOut.of(
            operations_status(
                uow=uow,
                clock=SystemClock(),
                relay_enabled=settings.kafka_bootstrap_servers is not None,
            )
        )

    if args.watch is None:
        _print(read(), json=args.json)
        return 0
    return watch(read, every=args.watch, json=args.json)


def watch(
    read: Callable[[], OpsStatusOut],
    *,
    every: float,
    json: bool,
    sleep: Callable[[float], None] = time.sleep,
    frames: int | None = None,
) -> int:
    """Print `read()` every `every` seconds, `frames` times (until Ctrl-C when None)."""
    shown = 0
    try:
        while frames is None or shown < frames:
            status = read()
            print(CLEAR, end="")
            _print(status, json=json)
            shown += 1
            if frames is None or shown < frames:
                sleep(every)
    except KeyboardInterrupt:
        pass
    return 0


def _print(status: OpsStatusOut, *, json: bool) -> None:
    if json:
        output.print_json(status.model_dump(mode="json"))
        return
    print(report(status))


def report(status: OpsStatusOut) -> str:
    """The figures as lines of text, then the latest stopped operations as a table."""
    outcomes = status.outcomes_last_hour
    outbox = status.outbox
    lines = [
        f"at {status.at.isoformat(timespec='seconds')}",
        f"due in the next hour: {status.due_next_hour.executions} payments, "
        f"{status.due_next_hour.reminders} reminders; "
        f"next day: {status.due_next_day.executions} payments, "
        f"{status.due_next_day.reminders} reminders",
        f"dispatch lag: {status.lag_seconds:.1f} s ({status.waiting} due and waiting)",
        "last hour: "
        + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        if outcomes
        else "last hour: nothing ran",
        f"stopped now: {status.dead} dead, {status.failed} failed",
        f"events to Kafka: {outbox.unpublished} waiting, oldest {outbox.oldest_seconds:.0f} s, "
        f"relay {outbox.relay}",
        f"audit trail: {status.unsealed_audit_records} records not sealed",
    ]
    if status.latest_stopped:
        rows = [("stopped (UTC)", "status", "operation", "amount", "why", "what to do")]
        rows += [
            (
                op.stopped_at.strftime("%Y-%m-%d %H:%M:%S"),
                op.status,
                str(op.id),
                f"{op.amount.value} {op.amount.currency}",
                op.error_code or "",
                op.recommended_action or "",
            )
            for op in status.latest_stopped
        ]
        lines += ["", output.table(rows)]
    return "\n".join(lines)
