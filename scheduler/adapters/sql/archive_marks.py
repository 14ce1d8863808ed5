"""SQL's side of the archive (`ArchiveMarks`): which history rows, audit records and
blocks Cosmos DB has confirmed (`archived_at`), and the purge of confirmed rows older
than the hot window.

The projector finds its work by `archived_at IS NULL` in key order, through partial
indexes that hold only those rows, never by a high-water mark: ids are handed out when
a row is inserted and become visible when its transaction commits, so a row with a
lower id can appear after higher ones were archived; a mark would step over it for
good, a NULL is still there to find. Nothing here locks rows for long: two projectors
may read the same rows and write the same items, which the archive's upsert by id
makes harmless.

Every purge statement repeats `archived_at IS NOT NULL`: the guard that SQL never lets
go of a row the archive has not confirmed lives in the statement that deletes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from scheduler.adapters.sql import audit as sql_audit
from scheduler.adapters.sql import history, statements, tables
from scheduler.domain.audit import AuditBlock, AuditRecord
from scheduler.ports import ArchivedAttempt

_attempt = tables.execution_attempt
_record = tables.audit_record
_block = tables.audit_block


class SqlArchiveMarks:
    """`ArchiveMarks` on one connection, inside the caller's transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def unarchived_attempts(self, limit: int) -> list[ArchivedAttempt]:
        rows = self._connection.execute(
            sa.select(_attempt)
            .where(_attempt.c.archived_at.is_(None))
            .order_by(_attempt.c.id)
            .limit(limit)
        )
        return [
            ArchivedAttempt(
                customer_id=row.customer_id, worker=row.worker, entry=history.entry_of(row)
            )
            for row in rows
        ]

    def unarchived_blocks(self, limit: int) -> list[AuditBlock]:
        rows = self._connection.execute(
            sa.select(*sql_audit.BLOCK_COLUMNS)
            .where(_block.c.archived_at.is_(None))
            .order_by(_block.c.block_no)
            .limit(limit)
        )
        return [sql_audit.block_of(row) for row in rows.mappings()]

    def unarchived_records(self, limit: int) -> list[AuditRecord]:
        rows = self._connection.execute(
            sa.select(*sql_audit.RECORD_COLUMNS)
            .where(_record.c.archived_at.is_(None), _record.c.block_no.is_not(None))
            .order_by(_record.c.seq)
            .limit(limit)
        )
        return [sql_audit.record_of(row) for row in rows.mappings()]

    def mark_attempts(self, ids: Sequence[int], at: datetime) -> None:
        self._mark(_attempt.c.id, ids, at)

    def mark_blocks(self, block_nos: Sequence[int], at: datetime) -> None:
        self._mark(_block.c.block_no, block_nos, at)

    def mark_records(self, seqs: Sequence[int], at: datetime) -> None:
        self._mark(_record.c.seq, seqs, at)

    def _mark(self, key: sa.Column[int], values: Sequence[int], at: datetime) -> None:
        """Set `archived_at` where still NULL: a row marked by a racing projector keeps
        its first mark."""
        table = key.table
        for chunk in statements.in_list_chunks(values):
            self._connection.execute(
                sa.update(table)
                .where(key.in_(chunk), table.c.archived_at.is_(None))
                .values(archived_at=at)
            )

    def purge_attempts(self, *, finished_before: datetime, limit: int) -> int:
        """Two statements, as LIMIT in a DELETE is not portable: choose the oldest
        confirmed attempts (index on finished_at), then delete those, still confirmed."""
        ids = list(
            self._connection.scalars(
                sa.select(_attempt.c.id)
                .where(
                    _attempt.c.finished_at < finished_before,
                    _attempt.c.archived_at.is_not(None),
                )
                .order_by(_attempt.c.finished_at)
                .limit(limit)
            )
        )
        deleted = 0
        for chunk in statements.in_list_chunks(ids):
            result = self._connection.execute(
                sa.delete(_attempt).where(
                    _attempt.c.id.in_(chunk), _attempt.c.archived_at.is_not(None)
                )
            )
            deleted += result.rowcount
        return deleted

    def purge_blocks(self, *, sealed_before: datetime, limit: int, at: datetime) -> list[int]:
        """Choose blocks still holding their records in SQL (partial index), confirmed
        and sealed before `sealed_before`, none of whose records is unconfirmed; delete
        their records and stamp them. A block is sealed after its last record occurred,
        so every record of such a block is older than `sealed_before` too."""
        unconfirmed = (
            sa.select(_record.c.seq)
            .where(_record.c.block_no == _block.c.block_no, _record.c.archived_at.is_(None))
            .exists()
        )
        block_nos = list(
            self._connection.scalars(
                sa.select(_block.c.block_no)
                .where(
                    _block.c.records_purged_at.is_(None),
                    _block.c.archived_at.is_not(None),
                    _block.c.sealed_at < sealed_before,
                    ~unconfirmed,
                )
                .order_by(_block.c.block_no)
                .limit(limit)
            )
        )
        for chunk in statements.in_list_chunks(block_nos):
            self._connection.execute(
                sa.delete(_record).where(
                    _record.c.block_no.in_(chunk), _record.c.archived_at.is_not(None)
                )
            )
            self._connection.execute(
                sa.update(_block)
                .where(_block.c.block_no.in_(chunk), _block.c.records_purged_at.is_(None))
                .values(records_purged_at=at)
            )
        return block_nos
