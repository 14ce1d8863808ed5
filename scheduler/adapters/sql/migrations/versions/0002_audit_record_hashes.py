"""Audit blocks keep their hash list, so verification names the records that differ.

Revision ID: 0002
Revises: 0001
Create Date: 2027-03-01

Adds `audit_block.record_hashes` (nullable text): for each block sealed from now on, one
"<seq>:<sha256>" line per record (scheduler.domain.audit.hash_list). Blocks already sealed
are not touched: their column stays NULL and they keep verifying by the digest they were
sealed with, so history is never rewritten. Adding a nullable column is metadata-only on
PostgreSQL, SQL Server and SQLite (no table rewrite, no long lock); code of the previous
release keeps working against it (it neither reads nor writes the column), though its
`audit verify` cannot check the blocks new sealers write.

Downgrading drops the column, and with it the hash lists, without which every block sealed
since this revision fails verification (its hash says it has a list). It is refused while
any block holds one; offline (`--sql`) the check cannot run, so the script says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_block", sa.Column("record_hashes", sa.Text(), nullable=True))


def downgrade() -> None:
    if context.is_offline_mode():
        op.execute(
            "-- Only if no audit_block row has record_hashes: dropping them breaks those blocks"
        )
    else:
        with_lists = op.get_bind().scalar(
            sa.text("SELECT COUNT(*) FROM audit_block WHERE record_hashes IS NOT NULL")
        )
        if with_lists:
            raise RuntimeError(
                f"{with_lists} audit blocks were sealed with hash lists; dropping "
                "audit_block.record_hashes would make them fail verification"
            )
    with op.batch_alter_table("audit_block") as batch:
        batch.drop_column("record_hashes")
