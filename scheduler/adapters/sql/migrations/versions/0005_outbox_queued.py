"""Outbox rows say when they were sent to their Service Bus queue.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Adds `outbox.queued_at` (nullable): when the event was sent to a Service Bus queue, for
the events that also go to one (an operation gone dead goes to `operations-dead`,
`service.send_dead_operations`). Its own mark, apart from `published_at` (Kafka), so
that neither delivery waits for the other. A partial (filtered) index holds only the
dead-operation events not queued yet: it stays as small as the handful waiting, and
adds nothing to the write of any other event.

Adding a nullable column is metadata-only on PostgreSQL, SQL Server and SQLite. Dead
events already in the outbox are unqueued: the first run of the sender sends them once.
Code of the previous release neither reads nor writes the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scheduler.adapters.sql import types

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Kept literal: a migration must not change when `EventType` does.
_DEAD_UNQUEUED = "event_type = 'com.tsched.operation.dead.v1' AND queued_at IS NULL"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("queued_at", types.UtcDateTime(), nullable=True))
    op.create_index(
        "ix_outbox_dead_unqueued",
        "outbox",
        ["id"],
        **{
            f"{dialect}_where": sa.text(_DEAD_UNQUEUED)
            for dialect in ("postgresql", "sqlite", "mssql")
        },
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_dead_unqueued", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("queued_at")
