"""Outbox rows are claimed by one relay at a time.

Revision ID: 0003
Revises: 0002
Create Date: 2027-03-02

Adds `outbox.relay_owner` and `outbox.relay_until` (both nullable): a relay claims the
unpublished rows it will publish, as a worker claims operations, so that several relays
(several `tsched serve` processes, or two relay orchestrations overlapping) do not
publish the same events in normal running. Adding nullable columns is metadata-only on
PostgreSQL, SQL Server and SQLite; code of the previous release ignores them (it reads
unpublished rows without claiming, as before).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scheduler.adapters.sql import types

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("relay_owner", sa.String(64), nullable=True))
    op.add_column("outbox", sa.Column("relay_until", types.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("relay_until")
        batch.drop_column("relay_owner")
