"""Rows say when the archive confirmed them, and blocks when their records left SQL.

Revision ID: 0004
Revises: 0003
Create Date: 2027-03-03

Adds, all nullable:

- `execution_attempt.archived_at`, `audit_record.archived_at`, `audit_block.archived_at`:
  when Cosmos DB confirmed the row's item (`service.project_archive`). NULL until then;
  the archive projector reads the NULL ones in key order through a partial (filtered)
  index that holds only them, so it stays small however long the history grows.
- `audit_block.records_purged_at`: when the block's records were deleted from SQL after
  the archive confirmed every one of them (`service.purge_hot_window`); verification then
  reads that block's records from the archive. A partial index holds the blocks not
  purged yet, so the purge never scans the purged past.
- an index on `execution_attempt.finished_at`, by which the purge finds the attempts
  older than the hot window.

Adding nullable columns is metadata-only on PostgreSQL, SQL Server and SQLite; the new
indexes are built over existing rows (every existing row is unarchived, so the partial
indexes start as large as the tables and shrink as the projector catches up). Code of the
previous release neither reads nor writes the columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scheduler.adapters.sql import types

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNARCHIVED = "archived_at IS NULL"
_RECORDS_IN_SQL = "records_purged_at IS NULL"


def _where(condition: str) -> dict[str, sa.TextClause]:
    """The same partial-index condition for each dialect that has partial indexes."""
    return {f"{dialect}_where": sa.text(condition) for dialect in ("postgresql", "sqlite", "mssql")}


def upgrade() -> None:
    for table in ("execution_attempt", "audit_record", "audit_block"):
        op.add_column(table, sa.Column("archived_at", types.UtcDateTime(), nullable=True))
    op.add_column("audit_block", sa.Column("records_purged_at", types.UtcDateTime(), nullable=True))
    op.create_index(
        "ix_execution_attempt_unarchived", "execution_attempt", ["id"], **_where(_UNARCHIVED)
    )
    op.create_index("ix_execution_attempt_finished_at", "execution_attempt", ["finished_at"])
    op.create_index("ix_audit_record_unarchived", "audit_record", ["seq"], **_where(_UNARCHIVED))
    op.create_index("ix_audit_block_unarchived", "audit_block", ["block_no"], **_where(_UNARCHIVED))
    op.create_index(
        "ix_audit_block_records_in_sql", "audit_block", ["block_no"], **_where(_RECORDS_IN_SQL)
    )


def downgrade() -> None:
    op.drop_index("ix_audit_block_records_in_sql", table_name="audit_block")
    op.drop_index("ix_audit_block_unarchived", table_name="audit_block")
    op.drop_index("ix_audit_record_unarchived", table_name="audit_record")
    op.drop_index("ix_execution_attempt_finished_at", table_name="execution_attempt")
    op.drop_index("ix_execution_attempt_unarchived", table_name="execution_attempt")
    with op.batch_alter_table("audit_block") as batch:
        batch.drop_column("records_purged_at")
        batch.drop_column("archived_at")
    for table in ("audit_record", "execution_attempt"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("archived_at")
