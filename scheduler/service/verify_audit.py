"""Verify the audit trail: recompute every block from its records and follow the chain.

Blocks are read a page at a time and records one block at a time, so memory stays
bounded by the page and the largest block, however long the trail. Verification stops at
the first broken block: everything after it is unproven until an auditor has looked.
Records not sealed yet cannot be verified; they are counted, not failed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scheduler import ports
from scheduler.domain import audit

#: Blocks read per query.
DEFAULT_PAGE_SIZE = 100


class BreakReason(enum.StrEnum):
    """Why a block does not verify."""

    #: The block does not follow its predecessor: a number is missing, its
    #: `previous_hash` is not the previous block's hash, or its own hash does not match
    #: its stored fields (the block row was edited).
    CHAIN_BREAK = "chain_break"
    #: The block holds a different number of records than it sealed, or records outside
    #: the sequence range it sealed (a record was deleted, forged in or moved).
    COUNT_MISMATCH = "count_mismatch"
    #: The records' digest differs from the one sealed (a record was changed).
    RECORDS_DIGEST_MISMATCH = "records_digest_mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenBlock:
    """The first block that failed verification, and why."""

    block_no: int
    reason: BreakReason


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationReport:
    """What verification covered and found. `blocks_checked` and `records_checked`
    include the broken block, if any; `unsealed_records` are the records no block holds
    yet (not verifiable, not a failure)."""

    blocks_checked: int
    records_checked: int
    unsealed_records: int
    first_broken: BrokenBlock | None = None

    @property
    def ok(self) -> bool:
        """True when every sealed block verified."""
        return self.first_broken is None


def verify_audit(
    *, uow: ports.UnitOfWork, page_size: int = DEFAULT_PAGE_SIZE
) -> VerificationReport:
    """Check every sealed block in order, from block 1, and count the unsealed records.
    Reads only; the transaction is rolled back."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    blocks_checked = records_checked = 0
    first_broken: BrokenBlock | None = None
    previous_no, previous_hash = 0, audit.GENESIS_HASH
    with uow:
        while first_broken is None:
            page = uow.audit.blocks(previous_no, page_size)
            if not page:
                break
            for block in page:
                records = uow.audit.records_in_block(block.block_no)
                blocks_checked += 1
                records_checked += len(records)
                reason = _break_in(
                    block, records, previous_no=previous_no, previous_hash=previous_hash
                )
                if reason is not None:
                    first_broken = BrokenBlock(block_no=block.block_no, reason=reason)
                    break
                previous_no, previous_hash = block.block_no, block.block_hash
        unsealed = uow.audit.count_unsealed()
    return VerificationReport(
        blocks_checked=blocks_checked,
        records_checked=records_checked,
        unsealed_records=unsealed,
        first_broken=first_broken,
    )


def _break_in(
    block: audit.AuditBlock,
    records: list[audit.AuditRecord],
    *,
    previous_no: int,
    previous_hash: str,
) -> BreakReason | None:
    recomputed_hash = audit.block_hash(
        block_no=block.block_no,
        sealed_at=block.sealed_at,
        record_count=block.record_count,
        first_seq=block.first_seq,
        last_seq=block.last_seq,
        digest=block.records_digest,
        previous=block.previous_hash,
    )
    if (
        block.block_no != previous_no + 1
        or block.previous_hash != previous_hash
        or block.block_hash != recomputed_hash
    ):
        return BreakReason.CHAIN_BREAK
    seqs = [record.seq for record in records]
    if len(records) != block.record_count or (
        seqs and (min(seqs) != block.first_seq or max(seqs) != block.last_seq)
    ):
        return BreakReason.COUNT_MISMATCH
    if audit.records_digest(records) != block.records_digest:
        return BreakReason.RECORDS_DIGEST_MISMATCH
    return None
