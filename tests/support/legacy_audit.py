"""Audit blocks as the sealer wrote them before blocks kept a hash list (migration 0002):
the legacy digest, the block hash without the `v2|` mark, no `record_hashes`. Works on a
schema at revision 0001 as well as at head, so tests can seal history, then migrate."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.audit import SqlAuditRepository
from scheduler.domain import audit


def seal_before_hash_lists(
    connection: sa.Connection, *, previous: audit.AuditBlock | None, sealed_at: datetime
) -> audit.AuditBlock:
    """Seal every unsealed record into the block after `previous` (None: block 1), the
    way the code before migration 0002 did, and return that block."""
    records = SqlAuditRepository(connection).unsealed(100_000)
    ordered = sorted(records, key=lambda record: record.seq)
    block_no = 1 if previous is None else previous.block_no + 1
    previous_hash = audit.GENESIS_HASH if previous is None else previous.block_hash
    digest = audit.legacy_records_digest(ordered)
    block = audit.AuditBlock(
        block_no=block_no,
        sealed_at=sealed_at,
        record_count=len(ordered),
        first_seq=ordered[0].seq,
        last_seq=ordered[-1].seq,
        records_digest=digest,
        previous_hash=previous_hash,
        block_hash=audit.block_hash(
            block_no=block_no,
            sealed_at=sealed_at,
            record_count=len(ordered),
            first_seq=ordered[0].seq,
            last_seq=ordered[-1].seq,
            digest=digest,
            previous=previous_hash,
            with_hash_list=False,
        ),
    )
    # Only the columns revision 0001 has.
    row = {k: v for k, v in dataclasses.asdict(block).items() if k != "record_hashes"}
    connection.execute(sa.insert(tables.audit_block).values(**row))
    record = tables.audit_record
    connection.execute(
        sa.update(record)
        .where(record.c.seq.in_([r.seq for r in ordered]))
        .values(block_no=block_no)
    )
    return block
