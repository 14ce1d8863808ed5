"""Operations keep the trace context they were created in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Adds `operation.traceparent` (nullable, a W3C traceparent of 55 characters): the context
of the request, or of the attempt, that created the operation, so that its execution,
hours or months later in another process, joins the same trace (`scheduler.tracing`).
The outbox needs no column: an event's traceparent rides in its JSON payload.

Adding a nullable column is metadata-only on PostgreSQL, SQL Server and SQLite. Rows
already stored have none: their executions start traces of their own. Code of the
previous release neither reads nor writes the column; its claim (`RETURNING *`, read by
position) ignores a trailing column it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("operation", sa.Column("traceparent", sa.String(55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operation") as batch:
        batch.drop_column("traceparent")
