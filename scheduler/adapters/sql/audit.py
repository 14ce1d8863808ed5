"""The audit trail in SQL: `SqlAuditRepository`, the `AuditRepository` port.

Writers only INSERT into `audit_record` (the sequence number comes from the database), so
they never touch a shared row. The sealer reads unsealed records, stores a block (one
row, its hash list included) and stamps the records with its number, all in the caller's
transaction; the block's primary key is what makes two racing sealers safe: the second
insert of a block number fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from scheduler.adapters.sql import bulk, statements, tables
from scheduler.domain import errors
from scheduler.domain.audit import AuditBlock, AuditEntry, AuditRecord
from scheduler.ports import AuditQuery

_record = tables.audit_record
_block = tables.audit_block


class SqlAuditRepository:
    """The audit trail on one connection, inside the caller's transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Insert one unsealed record per entry, in order (one executemany)."""
        if not entries:
            return
        bulk.insert_rows(self._connection, _record, [_entry_row(entry) for entry in entries])

    def unsealed(self, limit: int) -> list[AuditRecord]:
        """Up to `limit` records with no block yet, lowest seq first. Records of
        transactions still open are invisible here and get sealed in a later block."""
        rows = self._connection.execute(
            sa.select(*RECORD_COLUMNS)
            .where(_record.c.block_no.is_(None))
            .order_by(_record.c.seq)
            .limit(limit)
        )
        return [record_of(row) for row in rows.mappings()]

    def last_block(self) -> AuditBlock | None:
        """The block with the highest number, if any."""
        row = (
            self._connection.execute(
                sa.select(*BLOCK_COLUMNS).order_by(_block.c.block_no.desc()).limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else block_of(row)

    def add_block(self, block: AuditBlock, seqs: Sequence[int]) -> None:
        """Insert `block` (its hash list in the same row), then stamp the records `seqs`
        with its number.

        Raises `errors.LostSealRace` when another sealer stored this block number
        first (the primary key) or sealed any of these records first (fewer rows stamped
        than `seqs`); the caller's transaction must then be rolled back."""
        if len(set(seqs)) != len(seqs):
            raise ValueError("a record is sealed once: seqs must be distinct")
        try:
            self._connection.execute(sa.insert(_block), _block_row(block))
        except sa.exc.IntegrityError as error:
            raise errors.LostSealRace(block_no=block.block_no) from error
        stamped = 0
        for chunk in statements.in_list_chunks(seqs):
            result = self._connection.execute(
                sa.update(_record)
                .where(_record.c.seq.in_(chunk), _record.c.block_no.is_(None))
                .values(block_no=block.block_no)
            )
            stamped += result.rowcount
        if stamped != len(seqs):
            raise errors.LostSealRace(block_no=block.block_no, expected=len(seqs), stamped=stamped)

    def blocks(self, after_block_no: int, limit: int) -> list[AuditBlock]:
        """Up to `limit` blocks numbered above `after_block_no`, in number order."""
        rows = self._connection.execute(
            sa.select(*BLOCK_COLUMNS)
            .where(_block.c.block_no > after_block_no)
            .order_by(_block.c.block_no)
            .limit(limit)
        )
        return [block_of(row) for row in rows.mappings()]

    def records_in_block(self, block_no: int) -> list[AuditRecord]:
        """The records stamped with `block_no`, lowest seq first."""
        rows = self._connection.execute(
            sa.select(*RECORD_COLUMNS).where(_record.c.block_no == block_no).order_by(_record.c.seq)
        )
        return [record_of(row) for row in rows.mappings()]

    def count_unsealed(self) -> int:
        """How many visible records have no block yet."""
        count = self._connection.scalar(
            sa.select(sa.func.count()).select_from(_record).where(_record.c.block_no.is_(None))
        )
        return int(count or 0)

    def page(self, query: AuditQuery, *, before_seq: int | None, limit: int) -> list[AuditRecord]:
        """Records newest first (by seq, the order they were written in), filtered."""
        c = _record.c
        select = sa.select(*RECORD_COLUMNS)
        for column, value in (
            (c.subject_type, query.subject_type),
            (c.subject_id, query.subject_id),
            (c.customer_id, query.customer_id),
            (c.action, query.action),
        ):
            if value is not None:
                select = select.where(column == value)
        if query.occurred_from is not None:
            select = select.where(c.occurred_at >= query.occurred_from)
        if query.occurred_before is not None:
            select = select.where(c.occurred_at < query.occurred_before)
        if before_seq is not None:
            select = select.where(c.seq < before_seq)
        rows = self._connection.execute(select.order_by(c.seq.desc()).limit(limit))
        return [record_of(row) for row in rows.mappings()]


# The columns of audit_record and audit_block are named after the domain fields, so rows
# and dataclasses convert by name. Reads select exactly those columns: the archive's
# bookkeeping columns (`archived_at`, `records_purged_at`) are no part of a record.
_ENTRY_FIELDS = tuple(field.name for field in dataclasses.fields(AuditEntry))
#: The columns of a record (`record_of` reads a row of them).
RECORD_COLUMNS = tuple(_record.c[name] for name in ("seq", "block_no", *_ENTRY_FIELDS))
#: The columns of a block (`block_of` reads a row of them).
BLOCK_COLUMNS = tuple(_block.c[field.name] for field in dataclasses.fields(AuditBlock))


def _entry_row(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _ENTRY_FIELDS}


def record_of(row: sa.RowMapping) -> AuditRecord:
    """The record a row of `RECORD_COLUMNS` holds."""
    return AuditRecord(
        seq=row["seq"],
        block_no=row["block_no"],
        entry=AuditEntry(**{name: row[name] for name in _ENTRY_FIELDS}),
    )


def _block_row(block: AuditBlock) -> dict[str, Any]:
    return dataclasses.asdict(block)


def block_of(row: sa.RowMapping) -> AuditBlock:
    """The block a row of `BLOCK_COLUMNS` holds."""
    return AuditBlock(**row)
