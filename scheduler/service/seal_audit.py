"""Seal the audit records written since the last block into the next block.

One sealer at a time is the intent (a periodic job; in Azure a Durable activity), but two
may overlap: both read the same chain head and build the same block number. The store
lets only one of them in (the block's primary key, and records are stamped only while
unsealed), the other rolls back and reports `LOST_RACE`. Writers are never involved: they
insert records and never read the chain head.

What a seal writes, in its one transaction: the block row, which carries the block's hash
list (each record's seq and hash, for verification to name records that differ), and the
block number on each record. Records themselves are never rewritten: their hashes live in
the block, so stamping stays one set-based UPDATE per chunk of seqs rather than one
statement per record.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from scheduler import ports
from scheduler.domain import audit, errors

logger = logging.getLogger(__name__)

#: Most records one block seals: a block is hashed and stamped in one transaction, and
#: its hash list (about 72 bytes a record) is one column value of up to 360 kB.
DEFAULT_MAX_RECORDS = 5000


class SealOutcome(enum.StrEnum):
    """What one sealing run did."""

    #: A new block seals the oldest unsealed records.
    SEALED = "sealed"
    #: No unsealed records: no block (blocks are never empty).
    NOTHING_TO_SEAL = "nothing_to_seal"
    #: Another sealer got there first; this run changed nothing.
    LOST_RACE = "lost_race"


@dataclass(frozen=True, slots=True, kw_only=True)
class SealResult:
    """The outcome, and the block stored when `SEALED`."""

    outcome: SealOutcome
    block: audit.AuditBlock | None = None

    @property
    def records_sealed(self) -> int:
        """How many records the new block holds (0 unless `SEALED`)."""
        return 0 if self.block is None else self.block.record_count


def seal_audit(
    *,
    uow_factory: Callable[[], ports.UnitOfWork],
    clock: ports.Clock,
    max_records: int = DEFAULT_MAX_RECORDS,
) -> SealResult:
    """Seal up to `max_records` of the oldest unsealed audit records into the next block,
    chained to the last one, in one transaction. Call again while `records_sealed` equals
    `max_records` to catch up on a backlog."""
    if max_records < 1:
        raise ValueError("max_records must be at least 1")
    try:
        with uow_factory() as uow:
            # Head first, then records: a block another sealer adds in between either
            # collides on its number or has already stamped the records we read.
            last = uow.audit.last_block()
            records = uow.audit.unsealed(max_records)
            if not records:
                return SealResult(outcome=SealOutcome.NOTHING_TO_SEAL)
            block = audit.seal(
                records,
                block_no=1 if last is None else last.block_no + 1,
                previous_hash=audit.GENESIS_HASH if last is None else last.block_hash,
                sealed_at=clock.now(),
            )
            uow.audit.add_block(block, [record.seq for record in records])
            uow.commit()
    except errors.LostSealRace as lost:
        logger.info(
            "audit block %s was sealed by another sealer; nothing changed",
            lost.block_no,
            extra={"block_no": lost.block_no},
        )
        return SealResult(outcome=SealOutcome.LOST_RACE)
    logger.info(
        "sealed %s audit records into block %s",
        block.record_count,
        block.block_no,
        extra={"block_no": block.block_no, "record_count": block.record_count},
    )
    return SealResult(outcome=SealOutcome.SEALED, block=block)
