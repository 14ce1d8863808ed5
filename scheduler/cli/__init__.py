"""The `tsched` command: each module here adds one group of subcommands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import pydantic
import sqlalchemy.exc

from scheduler import logs
from scheduler.cli import accounts, demo, engine, history, planning, records, status, token
from scheduler.domain import errors

__all__ = [
    "EXIT_INVALID_INPUT",
    "accounts",
    "api_server",
    "demo",
    "engine",
    "history",
    "main",
    "output",
    "planning",
    "records",
    "status",
    "token",
]

EXIT_INVALID_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="tsched", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument(
        "--log-json",
        action="store_true",
        help="log as JSON lines (with the correlation id, secrets and IBANs masked)",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    planning.register(commands)
    engine.register(commands)
    demo.register(commands)
    records.register(commands)
    history.register(commands)
    status.register(commands)
    accounts.register(commands)
    token.register(commands)
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    if args.log_json:
        logs.use_json(level)
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logs.mask_all_handlers()
    try:
        return int(args.run(args))
    except (
        errors.SchedulerError,
        pydantic.ValidationError,
        sqlalchemy.exc.DBAPIError,
        OSError,
    ) as error:
        print(f"tsched: {_describe(error)}", file=sys.stderr)
        return EXIT_INVALID_INPUT


def _describe(error: Exception) -> str:
    if isinstance(error, pydantic.ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'document'}: {item['msg']}"
            for item in error.errors()
        )
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        return f"the store failed: {error.orig} (is DATABASE_URL right, and migrated?)"
    field = getattr(error, "field", None)
    message = str(error)
    return f"{field}: {message}" if field and not message.startswith(field) else message
