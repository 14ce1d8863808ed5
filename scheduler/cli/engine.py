"""`tsched migrate`, `tsched serve` and `tsched api`: prepare the store, run the
dispatcher (and the API beside it), or run the API alone."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta

from scheduler import bootstrap, relay, runner, telemetry
from scheduler.adapters.sql import migrate, transient
from scheduler.cli import output
from scheduler.cli.api_server import ApiServer, serve_api
from scheduler.cli.output import Commands
from scheduler.clocks import AcceleratedClock, SystemClock
from scheduler.config import load_settings
from scheduler.ports import Clock
from scheduler.service.execute_claimed import TransactionMode
from scheduler.service.publish_outbox import PublishResult

#: How long `serve` waits, when stopping, for a relay round in progress (a round ends
#: within the Kafka delivery timeout, 30 s, plus librdkafka's report grace).
RELAY_STOP_SECONDS = 35.0


#: `tsched api` refused its settings.
EXIT_REFUSED = 2


def register(commands: Commands) -> None:
    """Add `migrate`, `api` and `serve`."""
    migrate_command = commands.add_parser(
        "migrate", help="bring the store's tables to the latest version (DATABASE_URL)"
    )
    migrate_command.set_defaults(run=_run_migrate)

    api = commands.add_parser(
        "api",
        help="serve the HTTP API alone (no dispatcher), in one or more processes",
        description="The API a channel calls, against DATABASE_URL, without the dispatcher "
        "(run `tsched serve --no-api` beside it): several processes answer more requests "
        "than the one thread inside `tsched serve`.",
    )
    api.add_argument("--host", default="127.0.0.1", help="address to bind")
    api.add_argument("--port", type=int, default=8080, help="port to bind")
    api.add_argument("--workers", type=output.positive, default=1, help="API processes (default 1)")
    api.set_defaults(run=_run_api)

    serve = commands.add_parser(
        "serve",
        help="run the dispatcher: execute due operations, relay events, seal the audit trail",
        description="One process runs the same service calls the Durable orchestration "
        "makes in Azure, in a loop, against DATABASE_URL (a SQLite file by default).",
    )
    serve.add_argument(
        "--speed",
        type=output.positive_float,
        default=1.0,
        help="run the clock this many times faster than real time (demonstrations only)",
    )
    serve.add_argument(
        "--start",
        type=output.instant,
        help="with --speed, the RFC 3339 instant the clock starts at (default: now)",
    )
    serve.add_argument("--batch-size", type=output.positive, help="default DISPATCH_BATCH_SIZE")
    serve.add_argument(
        "--mode",
        type=TransactionMode,
        choices=list(TransactionMode),
        default=TransactionMode.BATCH,
        help="commit a batch's outcomes together (savepoint each) or one by one",
    )
    serve.add_argument(
        "--idle-sleep", type=float, default=0.5, help="seconds to wait when nothing is due"
    )
    serve.add_argument(
        "--until-idle",
        action="store_true",
        help="stop when nothing is due (a batch job: no HTTP API)",
    )
    serve.add_argument("--api-host", default="127.0.0.1", help="address the HTTP API binds")
    serve.add_argument("--api-port", type=int, default=8080, help="port of the HTTP API")
    serve.add_argument("--no-api", action="store_true", help="run the dispatcher only")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate the store first")
    serve.add_argument("--quiet", action="store_true", help="print nothing per pass")
    serve.set_defaults(run=_run_serve)


def _run_migrate(_args: argparse.Namespace) -> int:
    # The runtime's engine, so that DATABASE_CREDENTIAL logs in to Azure SQL as it does
    # there (`azurecli` from a deploy job). The upgrade is one transaction: one that a
    # transient error rolled back, or that committed before the error, runs again safely.
    engine = bootstrap.store_engine(load_settings())
    try:
        transient.retry_transient(lambda: migrate.upgrade(engine), what="tsched migrate")
    finally:
        engine.dispose()
    print("tsched: store is at the latest version")
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    clock: Clock = SystemClock()
    if args.speed != 1.0 or args.start is not None:
        clock = AcceleratedClock(args.start or datetime.now(UTC), args.speed)
    runtime = bootstrap.build(settings, clock=clock)
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    if not args.no_migrate:
        migrated = runner.wait_for_store(
            lambda: migrate.upgrade(runtime.engine), what="migrating the store", stop=stop
        )
        if not migrated:
            runtime.close()
            return 0
    loop = runner.LoopSettings(
        batch_size=args.batch_size or settings.dispatch_batch_size,
        lease=timedelta(seconds=settings.lease_seconds),
        mode=args.mode,
        idle_sleep=args.idle_sleep,
    )
    events = "Kafka" if runtime.publisher is not None else "the outbox (tsched events)"
    gateway = "the embedded ledger" if runtime.ledger is not None else "core banking"
    print(
        f"tsched serve: worker {runtime.worker} on {runtime.engine.url.get_backend_name()}, "
        f"paying through {gateway}, events to {events}; Ctrl-C stops",
        flush=True,
    )

    def report(cycle: runner.Cycle) -> None:
        if cycle.busy and not args.quiet:
            print(describe_cycle(clock.now(), cycle), flush=True)

    def report_round(result: PublishResult) -> None:
        if result.read and not args.quiet:
            print(describe_round(clock.now(), result), flush=True)

    events_relay = None
    if runtime.publisher is not None and not args.until_idle:
        events_relay = relay.RelayThread(
            runtime, runtime.publisher, relay.RelaySettings(), on_round=report_round
        )
        events_relay.start()
    stop_telemetry = telemetry.start(runtime)
    if settings.metrics_port is not None:
        print(f"tsched serve: metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
    api = None
    if not (args.until_idle or args.no_api):
        api = ApiServer(runtime, host=args.api_host, port=args.api_port)
        api.start()
        print(f"tsched serve: HTTP API on http://{args.api_host}:{args.api_port}/v1", flush=True)
    try:
        runner.serve(runtime, loop, stop=stop, on_cycle=report, until_idle=args.until_idle)
        if args.until_idle and runtime.publisher is not None:
            relay.drain(runtime, runtime.publisher)
    finally:
        if api is not None:
            api.stop()
        if events_relay is not None:
            events_relay.stop(timeout=RELAY_STOP_SECONDS)
        stop_telemetry()
        runtime.close()
    return 0


def _run_api(args: argparse.Namespace) -> int:
    if args.workers > 1 and load_settings().metrics_port is not None:
        print(
            "tsched: METRICS_PORT serves one process's metrics; unset it, or run the API "
            "with --workers 1",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    print(
        f"tsched api: {args.workers} process(es) on http://{args.host}:{args.port}/v1", flush=True
    )
    serve_api(host=args.host, port=args.port, workers=args.workers)
    return 0


def describe_cycle(now: datetime, cycle: runner.Cycle) -> str:
    """One line saying what a pass did."""
    outcomes = ", ".join(
        f"{count} {status.value}" for status, count in sorted(cycle.recorded.items())
    )
    parts = [f"{now:%Y-%m-%d %H:%M:%SZ}", f"claimed {cycle.claimed}"]
    if outcomes:
        parts.append(outcomes)
    if cycle.lost_leases:
        parts.append(f"{cycle.lost_leases} lost leases")
    if cycle.errors:
        parts.append(f"{cycle.errors} errors")
    parts.append(f"sealed {cycle.sealed}")
    return "  ".join(parts)


def describe_round(now: datetime, result: PublishResult) -> str:
    """One line saying what a relay round published."""
    line = f"{now:%Y-%m-%d %H:%M:%SZ}  published {result.published} events"
    if result.published < result.read:
        line += f" ({result.read - result.published} left in the outbox for the next round)"
    return line
