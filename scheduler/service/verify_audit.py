"""Verify the audit trail: recompute every block from its records and follow the chain.

Blocks are read a page at a time and records one block at a time, so memory stays
bounded by the page and the largest block, however long the trail. Verification stops at
the first broken block: everything after it is unproven until an auditor has looked.
Records not sealed yet cannot be verified; they are counted, not failed.

With the archive on, the records of blocks older than the hot window leave SQL once the
archive holds them (`purge_hot_window`); the block rows stay. A block with no record in
SQL is then verified from the archive's copies of its records, by the same rules: a
purge takes a whole block or nothing, so a block with some of its records in SQL is
verified from SQL alone, and a record missing there is reported, not looked up.

A broken block is named, and so are its records that no longer match its hash list
(changed, missing, added), when the block has a list whose digest it sealed. Whether a
block verifies never depends on the list: its digest is recomputed from the records.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scheduler import ports
from scheduler.domain import audit
from scheduler.ports import AuditArchive

#: Blocks read per query. Each block row carries its hash list (up to 360 kB for 5,000
#: records), so a page of 10 holds at most about 3.6 MB; the query per page is one in ten
#: beside the query per block for its records.
DEFAULT_PAGE_SIZE = 10


class BreakReason(enum.StrEnum):
    """Why a block does not verify."""

    #: The block does not follow its predecessor: a number is missing, its
    #: `previous_hash` is not the previous block's hash, or its own hash does not match
    #: its stored fields (the block row was edited).
    CHAIN_BREAK = "chain_break"
    #: The block's hash list is not the one it sealed (the list was edited, perhaps to
    #: match records rewritten with it). The records cannot be named.
    HASH_LIST_MISMATCH = "hash_list_mismatch"
    #: The block holds a different number of records than it sealed, or records outside
    #: the sequence range it sealed (a record was deleted, forged in or moved).
    COUNT_MISMATCH = "count_mismatch"
    #: The records' digest differs from the one sealed (a record was changed).
    RECORDS_DIGEST_MISMATCH = "records_digest_mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenBlock:
    """The first block that failed verification, why, and which of its records differ.

    `records_named` is True when the block's sealed hash list was checked against its
    records: then `changed_seqs` (content no longer matches its sealed hash),
    `missing_seqs` (sealed, now gone from the block) and `added_seqs` (in the block, never
    sealed in it) are complete, in ascending order. It is False, and the three empty,
    when the block row itself does not verify (`CHAIN_BREAK`, `HASH_LIST_MISMATCH`) or the
    block was sealed before hash lists (migration 0002)."""

    block_no: int
    reason: BreakReason
    records_named: bool = False
    changed_seqs: tuple[int, ...] = ()
    missing_seqs: tuple[int, ...] = ()
    added_seqs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationReport:
    """What verification covered and found. `blocks_checked` and `records_checked`
    include the broken block, if any; `unsealed_records` are the records no block holds
    yet (not verifiable, not a failure)."""

    blocks_checked: int
    records_checked: int
    unsealed_records: int
    first_broken: BrokenBlock | None = None
    #: Of `blocks_checked`, those whose records were read from the archive.
    blocks_from_archive: int = 0

    @property
    def ok(self) -> bool:
        """True when every sealed block verified."""
        return self.first_broken is None


def verify_audit(
    *,
    uow: ports.UnitOfWork,
    archive: AuditArchive | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> VerificationReport:
    """Check every sealed block in order, from block 1, and count the unsealed records;
    a block whose records SQL no longer holds is checked against `archive`'s copies.
    Reads only; the transaction is rolled back."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    blocks_checked = records_checked = from_archive = 0
    first_broken: BrokenBlock | None = None
    previous_no, previous_hash = 0, audit.GENESIS_HASH
    with uow:
        while first_broken is None:
            page = uow.audit.blocks(previous_no, page_size)
            if not page:
                break
            for block in page:
                records = uow.audit.records_in_block(block.block_no)
                if not records and archive is not None:
                    records = archive.records_in_block(block.block_no)
                    from_archive += 1
                blocks_checked += 1
                records_checked += len(records)
                first_broken = _break_in(
                    block, records, previous_no=previous_no, previous_hash=previous_hash
                )
                if first_broken is not None:
                    break
                previous_no, previous_hash = block.block_no, block.block_hash
        unsealed = uow.audit.count_unsealed()
    return VerificationReport(
        blocks_checked=blocks_checked,
        records_checked=records_checked,
        unsealed_records=unsealed,
        first_broken=first_broken,
        blocks_from_archive=from_archive,
    )


def _break_in(
    block: audit.AuditBlock,
    records: list[audit.AuditRecord],
    *,
    previous_no: int,
    previous_hash: str,
) -> BrokenBlock | None:
    if (
        block.block_no != previous_no + 1
        or block.previous_hash != previous_hash
        or block.block_hash != audit.rehash(block)
    ):
        return BrokenBlock(block_no=block.block_no, reason=BreakReason.CHAIN_BREAK)
    hashes = block.record_hashes
    if hashes is not None and audit.hash_list_digest(hashes) != block.records_digest:
        return BrokenBlock(block_no=block.block_no, reason=BreakReason.HASH_LIST_MISMATCH)
    reason = _records_break(block, records)
    if reason is None:
        return None
    if hashes is None:
        return BrokenBlock(block_no=block.block_no, reason=reason)
    found = audit.compare(audit.parse_hash_list(hashes), records)
    return BrokenBlock(
        block_no=block.block_no,
        reason=reason,
        records_named=True,
        changed_seqs=found.changed,
        missing_seqs=found.missing,
        added_seqs=found.added,
    )


def _records_break(block: audit.AuditBlock, records: list[audit.AuditRecord]) -> BreakReason | None:
    """Whether the records, by their count, range and recomputed digest, are the ones the
    block sealed; the hash list plays no part."""
    seqs = [record.seq for record in records]
    if len(records) != block.record_count or (
        seqs and (min(seqs) != block.first_seq or max(seqs) != block.last_seq)
    ):
        return BreakReason.COUNT_MISMATCH
    recomputed = (
        audit.legacy_records_digest(records)
        if block.record_hashes is None
        else audit.hash_list_digest(audit.hash_list(records))
    )
    if recomputed != block.records_digest:
        return BreakReason.RECORDS_DIGEST_MISMATCH
    return None
