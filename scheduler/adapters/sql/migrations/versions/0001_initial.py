"""The initial schema: schedules, operations, attempts, outbox, audit, idempotency, ledger.

Revision ID: 0001
Revises:
Create Date: 2027-01-04

Mirrors scheduler/adapters/sql/tables.py table by table, with the same column types
(scheduler.adapters.sql.types: NUMERIC(19, 4) or text amounts, timestamptz or DATETIME2
instants) and the names its naming convention gives. The partial indexes carry one WHERE
clause per dialect (SQL Server: a filtered index). Downgrading drops everything.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scheduler.adapters.sql import types

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A generated 64-bit key: BIGSERIAL / IDENTITY; on SQLite INTEGER PRIMARY KEY, the rowid.
_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_CLAIMABLE = "status IN ('pending', 'retry_wait', 'claimed')"
_UNPUBLISHED = "published_at IS NULL"
_STOPPED = "status IN ('failed', 'dead')"


def _where(condition: str) -> dict[str, sa.TextClause]:
    """The same partial-index condition for each dialect that has partial indexes."""
    return {f"{dialect}_where": sa.text(condition) for dialect in ("postgresql", "sqlite", "mssql")}


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("debit_account", sa.String(34), nullable=False),
        sa.Column("credit_account", sa.String(34), nullable=False),
        sa.Column("amount", types.Amount(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=True),
        sa.Column("first_index", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", types.UtcDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule"),
    )
    op.create_index(
        "ix_schedule_customer_id_status_created_at",
        "schedule",
        ["customer_id", "status", "created_at"],
    )

    op.create_table(
        "operation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurrence_index", sa.Integer(), nullable=False),
        sa.Column("reminder_offset", sa.String(16), nullable=False),
        sa.Column("nominal_date", types.LocalDate, nullable=False),
        sa.Column("execution_date", types.LocalDate, nullable=False),
        sa.Column("due_at", types.UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("available_at", types.UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("declines", sa.Integer(), nullable=False),
        sa.Column(
            "attempts_before_redrive", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", types.UtcDateTime(), nullable=True),
        sa.Column("debit_account", sa.String(34), nullable=False),
        sa.Column("credit_account", sa.String(34), nullable=False),
        sa.Column("amount", types.Amount(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        sa.Column("last_error_reason", sa.Unicode(400), nullable=True),
        sa.Column("updated_at", types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_operation"),
        sa.UniqueConstraint(
            "schedule_id",
            "occurrence_index",
            "kind",
            "reminder_offset",
            name="uq_operation_occurrence",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedule.id"], name="fk_operation_schedule_id_schedule"
        ),
    )
    op.create_index("ix_operation_claim", "operation", ["available_at"], **_where(_CLAIMABLE))
    op.create_index("ix_operation_stopped", "operation", ["updated_at", "id"], **_where(_STOPPED))
    op.create_index("ix_operation_customer_id_status", "operation", ["customer_id", "status"])

    op.create_table(
        "execution_attempt",
        sa.Column("id", _SERIAL, nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("due_at", types.UtcDateTime(), nullable=False),
        sa.Column("started_at", types.UtcDateTime(), nullable=False),
        sa.Column("finished_at", types.UtcDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("reason", sa.Unicode(400), nullable=True),
        sa.Column("recommended_action", sa.Unicode(400), nullable=True),
        sa.Column("gateway_reference", sa.String(64), nullable=True),
        sa.Column("debit_account", sa.String(34), nullable=False),
        sa.Column("credit_account", sa.String(34), nullable=False),
        sa.Column("amount", types.Amount(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_execution_attempt"),
        sa.UniqueConstraint(
            "operation_id", "attempt", name="uq_execution_attempt_operation_id_attempt"
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"], ["operation.id"], name="fk_execution_attempt_operation_id_operation"
        ),
    )
    op.create_index(
        "ix_execution_attempt_customer_id_finished_at",
        "execution_attempt",
        ["customer_id", "finished_at"],
    )
    op.create_index(
        "ix_execution_attempt_schedule_id_finished_at",
        "execution_attempt",
        ["schedule_id", "finished_at"],
    )

    op.create_table(
        "outbox",
        sa.Column("id", _SERIAL, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(96), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", types.UtcDateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("published_at", types.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["id"], **_where(_UNPUBLISHED))

    op.create_table(
        "audit_record",
        sa.Column("seq", _SERIAL, nullable=False),
        sa.Column("occurred_at", types.UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("block_no", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_record"),
    )
    op.create_index("ix_audit_record_block_no", "audit_record", ["block_no"])
    op.create_index(
        "ix_audit_record_subject_type_subject_id", "audit_record", ["subject_type", "subject_id"]
    )

    op.create_table(
        "audit_block",
        sa.Column("block_no", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sealed_at", types.UtcDateTime(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("records_digest", sa.String(64), nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("block_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("block_no", name="pk_audit_block"),
    )

    op.create_table(
        "api_idempotency",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.UnicodeText(), nullable=False),
        sa.Column("created_at", types.UtcDateTime(), nullable=False),
        sa.Column("expires_at", types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "idempotency_key", name="pk_api_idempotency"),
    )
    op.create_index("ix_api_idempotency_expires_at", "api_idempotency", ["expires_at"])

    op.create_table(
        "ledger_account",
        sa.Column("id", sa.String(34), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("balance", types.Amount(), nullable=False),
        sa.Column("overdraft_limit", types.Amount(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_account"),
    )
    op.create_index("ix_ledger_account_customer_id", "ledger_account", ["customer_id"])

    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("debit_account", sa.String(34), nullable=False),
        sa.Column("credit_account", sa.String(34), nullable=False),
        sa.Column("amount", types.Amount(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.Unicode(140), nullable=False),
        sa.Column("booked_at", types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entry"),
        sa.UniqueConstraint("idempotency_key", name="uq_ledger_entry_idempotency_key"),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    for table in (
        "ledger_entry",
        "ledger_account",
        "api_idempotency",
        "audit_block",
        "audit_record",
        "outbox",
        "execution_attempt",
        "operation",
        "schedule",
    ):
        op.drop_table(table)
