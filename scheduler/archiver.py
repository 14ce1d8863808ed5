"""Keeping the archive caught up: rounds of `project_archive`, then passes of
`purge_hot_window`, for a bounded time. The Azure archive timer (`durable.archive`) runs
this on every tick; it is off the payment path, like the outbox relay: an archive out
of reach leaves rows unarchived in SQL (and unpurged) until it answers again, and
delays nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from scheduler.adapters.sql.transient import retry_transient
from scheduler.bootstrap import Runtime
from scheduler.ports import Archive
from scheduler.service.project_archive import project_archive
from scheduler.service.purge_hot_window import purge_hot_window

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveRun:
    """What `catch_up` did: rows archived, rows the archive did not confirm, history
    attempts purged and audit blocks emptied in SQL, and whether work was left when it
    stopped (time was up, or the archive stopped confirming)."""

    archived: int = 0
    not_confirmed: int = 0
    purged_attempts: int = 0
    purged_blocks: int = 0
    more: bool = False


def catch_up(
    runtime: Runtime,
    archive: Archive,
    *,
    seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> ArchiveRun:
    """Archive rounds until nothing is left or `seconds` have passed, stopping early
    when a round archived nothing but was refused some (the archive is failing: the
    next tick tries again); then purge passes in the time left. A round started before
    the deadline runs to its end."""
    deadline = monotonic() + seconds
    archived = not_confirmed = 0
    more = True
    while more and monotonic() < deadline:
        round_ = retry_transient(
            lambda: project_archive(
                uow_factory=runtime.unit_of_work, archive=archive, clock=runtime.clock
            ),
            what="archive",
        )
        archived += round_.archived
        not_confirmed += round_.not_confirmed
        more = round_.more
        if round_.not_confirmed and not round_.archived:
            logger.warning(
                "the archive confirmed none of %d rows; trying again on the next tick",
                round_.not_confirmed,
                extra={"not_confirmed": round_.not_confirmed},
            )
            break
    purged_attempts = purged_blocks = 0
    purge_more = True
    while purge_more and monotonic() < deadline:
        purged = retry_transient(
            lambda: purge_hot_window(
                uow=runtime.unit_of_work(),
                clock=runtime.clock,
                hot_months=runtime.settings.archive_hot_months,
            ),
            what="purge hot window",
        )
        purged_attempts += purged.attempts
        purged_blocks += purged.blocks
        purge_more = purged.more
    return ArchiveRun(
        archived=archived,
        not_confirmed=not_confirmed,
        purged_attempts=purged_attempts,
        purged_blocks=purged_blocks,
        more=more or purge_more,
    )
