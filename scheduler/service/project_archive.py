"""Use case: copy the history and the sealed audit trail from SQL to the archive.

The rows themselves are the queue: each round reads rows the archive has not confirmed
(`archived_at` NULL) in key order, upserts them into the archive outside any SQL
transaction, and marks those the archive confirmed, in a short transaction of its own.
A crash between the upsert and the mark leaves the rows unmarked, and the next round
writes the same items again, replacing them by id: at least once, held once.

Why not project from the outbox, as the issue first suggested: the outbox holds the
events for Kafka, one `published_at` for one consumer, and neither a history row nor
an audit record is an event there; mirroring every row into it would add a write to
every payment's transaction and a second consumer's bookkeeping to a table tuned for
one. The rows are already durable, in one place, in order; reading them is as safe and
costs the payment path nothing. Audit records wait until they are sealed, so an
archived record always has its block, whose hash list lets the archive alone prove it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from scheduler.ports import Archive, ArchiveMarks, ArchivingUnitOfWork, Clock

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Rows of each kind one round reads: one query and one marking transaction each, and
#: in Cosmos DB about a second of upserts at the adapter's concurrency.
DEFAULT_BATCH_SIZE = 500
#: Blocks one round reads: each carries its hash list (up to 360 kB).
DEFAULT_BLOCK_BATCH_SIZE = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionResult:
    """What a round archived (confirmed and marked) of each kind, how many rows the
    archive did not confirm (written again next round), and whether a full batch was
    read, so another round should follow at once."""

    attempts: int = 0
    blocks: int = 0
    records: int = 0
    not_confirmed: int = 0
    more: bool = False

    @property
    def archived(self) -> int:
        """Rows of every kind archived in the round."""
        return self.attempts + self.blocks + self.records


def project_archive(
    *,
    uow_factory: Callable[[], ArchivingUnitOfWork],
    archive: Archive,
    clock: Clock,
    batch_size: int = DEFAULT_BATCH_SIZE,
    block_batch_size: int = DEFAULT_BLOCK_BATCH_SIZE,
) -> ProjectionResult:
    """One round: archive up to `batch_size` history attempts, `block_batch_size`
    sealed audit blocks and `batch_size` sealed audit records, oldest first. Blocks go
    before records, so a record's block is archived no later than the record."""
    if batch_size < 1 or block_batch_size < 1:
        raise ValueError("batch sizes must be at least 1")
    attempts = _project(
        uow_factory,
        clock,
        read=lambda marks: marks.unarchived_attempts(batch_size),
        key=lambda attempt: attempt.entry.id,
        put=archive.put_attempts,
        mark=lambda marks, keys, at: marks.mark_attempts(keys, at),
    )
    blocks = _project(
        uow_factory,
        clock,
        read=lambda marks: marks.unarchived_blocks(block_batch_size),
        key=lambda block: block.block_no,
        put=archive.put_blocks,
        mark=lambda marks, keys, at: marks.mark_blocks(keys, at),
    )
    records = _project(
        uow_factory,
        clock,
        read=lambda marks: marks.unarchived_records(batch_size),
        key=lambda record: record.seq,
        put=archive.put_records,
        mark=lambda marks, keys, at: marks.mark_records(keys, at),
    )
    result = ProjectionResult(
        attempts=attempts.archived,
        blocks=blocks.archived,
        records=records.archived,
        not_confirmed=attempts.refused + blocks.refused + records.refused,
        more=(
            attempts.read == batch_size
            or blocks.read == block_batch_size
            or records.read == batch_size
        ),
    )
    if result.archived:
        logger.info(
            "archived %d history attempts, %d audit blocks, %d audit records",
            result.attempts,
            result.blocks,
            result.records,
            extra={"attempts": result.attempts, "blocks": result.blocks, "records": result.records},
        )
    return result


@dataclass(frozen=True, slots=True)
class _Step:
    read: int
    archived: int
    refused: int


def _project(
    uow_factory: Callable[[], ArchivingUnitOfWork],
    clock: Clock,
    *,
    read: Callable[[ArchiveMarks], Sequence[T]],
    key: Callable[[T], int],
    put: Callable[[Sequence[T]], list[int]],
    mark: Callable[[ArchiveMarks, list[int], datetime], None],
) -> _Step:
    with uow_factory() as uow:
        rows = read(uow.archive_marks)
    if not rows:
        return _Step(0, 0, 0)
    confirmed = put(rows)
    wanted = {key(row) for row in rows}
    marked = [value for value in confirmed if value in wanted]
    if marked:
        with uow_factory() as uow:
            mark(uow.archive_marks, marked, clock.now())
            uow.commit()
    return _Step(len(rows), len(marked), len(rows) - len(marked))
