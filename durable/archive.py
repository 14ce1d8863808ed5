"""The archive timer: on `%ARCHIVE_SCHEDULE%` (UTC), copy new history and sealed audit
records to Cosmos DB and purge SQL's rows past the hot window (`scheduler.archiver`).

A plain timer function, not an orchestration: the Functions host runs one timer
function on one instance at a time (a blob lease), and a tick still running makes the
next one wait, which is the one-archiver-at-a-time this needs; two archivers would
only write the same items twice. Each tick works for at most `ARCHIVE_SECONDS`, well
inside the host's function timeout. Nothing to do when `COSMOS_ENDPOINT` is empty.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from scheduler import archiver, bootstrap

logger = logging.getLogger(__name__)

#: The timer function's name.
ARCHIVE_TIMER = "archive_history_and_audit"

#: How long one tick keeps starting archive rounds and purge passes.
ARCHIVE_SECONDS = 50.0


def register(blueprint: df.Blueprint) -> None:
    """Add the archive timer to `blueprint`: UTC, never on startup."""
    blueprint.function_name(ARCHIVE_TIMER)(
        blueprint.timer_trigger(
            arg_name="timer", schedule="%ARCHIVE_SCHEDULE%", run_on_startup=False
        )(archive_history_and_audit)
    )


def archive_history_and_audit(timer: func.TimerRequest) -> None:
    """One tick of archiving and purging, on this worker's runtime."""
    runtime = bootstrap.process_runtime()
    if runtime.archive is None:
        return
    run = archiver.catch_up(runtime, runtime.archive, seconds=ARCHIVE_SECONDS)
    logger.info(
        "archive tick: %d rows archived, %d not confirmed, %d attempts and %d audit blocks "
        "purged from SQL%s",
        run.archived,
        run.not_confirmed,
        run.purged_attempts,
        run.purged_blocks,
        "; more waits" if run.more else "",
        extra={
            "archived": run.archived,
            "not_confirmed": run.not_confirmed,
            "purged_attempts": run.purged_attempts,
            "purged_blocks": run.purged_blocks,
            "past_due": timer.past_due,
        },
    )
