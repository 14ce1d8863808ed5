"""Use case: delete from SQL the history and audit records older than the hot window
that the archive has confirmed.

Only with the archive on: without it SQL is the only copy and keeps everything. The
statements themselves refuse an unconfirmed row (`ArchiveMarks`), whatever the caller
passes. Audit records go a whole block at a time, and only once the block and every
one of its records are confirmed: the block row stays in SQL, so the chain the sealer
extends is intact, and verification reads a purged block's records from the archive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scheduler.ports import ArchivingUnitOfWork, Clock
from scheduler.service.hot_window import PURGE_MARGIN, hot_window_start

logger = logging.getLogger(__name__)

#: History rows one pass deletes: one short transaction, however large the backlog.
DEFAULT_LIMIT = 1000
#: Audit blocks one pass empties (a block holds up to 5,000 records).
DEFAULT_BLOCK_LIMIT = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeResult:
    """Attempts deleted and blocks emptied by one pass; `more` when a limit was
    reached, so another pass may find more."""

    attempts: int
    blocks: int
    more: bool


def purge_hot_window(
    *,
    uow: ArchivingUnitOfWork,
    clock: Clock,
    hot_months: int,
    limit: int = DEFAULT_LIMIT,
    block_limit: int = DEFAULT_BLOCK_LIMIT,
) -> PurgeResult:
    """Delete up to `limit` confirmed attempts and the records of up to `block_limit`
    confirmed blocks, all older than `hot_months` months (less `PURGE_MARGIN`), in one
    transaction."""
    now = clock.now()
    before = hot_window_start(now, hot_months) - PURGE_MARGIN
    with uow:
        attempts = uow.archive_marks.purge_attempts(finished_before=before, limit=limit)
        blocks = uow.archive_marks.purge_blocks(sealed_before=before, limit=block_limit, at=now)
        uow.commit()
    if attempts or blocks:
        logger.info(
            "purged %d archived history attempts and the records of %d audit blocks "
            "older than %s from SQL",
            attempts,
            len(blocks),
            before.isoformat(),
            extra={"attempts": attempts, "blocks": len(blocks)},
        )
    return PurgeResult(
        attempts=attempts,
        blocks=len(blocks),
        more=attempts == limit or len(blocks) == block_limit,
    )
