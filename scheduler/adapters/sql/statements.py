"""What several repositories share about statements: the SQL that differs by
database (taken from `dialects/<name>.py`), how to lock rows on each, and how long an
``IN (...)`` list may be. Each docstring says what its statement locks.

A statement only one repository runs lives in that repository, as SQLAlchemy Core
that compiles on all three databases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.dialects import mssql, postgresql, sqlite
from scheduler.adapters.sql.types import UtcDateTime

_DIALECTS = {"postgresql": postgresql, "mssql": mssql, "sqlite": sqlite}

#: Values per ``IN (...)`` list: SQL Server takes at most 2,100 parameters a statement.
MAX_IN_LIST = 1000

T = TypeVar("T")


def in_list_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in runs short enough for one ``IN (...)`` list on every dialect."""
    size = MAX_IN_LIST
    return (values[start : start + size] for start in range(0, len(values), size))


def _dialect_sql(dialect_name: str, name: str) -> str:
    try:
        module = _DIALECTS[dialect_name]
    except KeyError:
        raise ValueError(f"unsupported database dialect {dialect_name!r}") from None
    sql: str = getattr(module, name)
    return sql


def lock_rows(select: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """`select` locking the rows it reads until commit: ``FOR UPDATE`` on PostgreSQL,
    ``WITH (UPDLOCK, ROWLOCK)`` on SQL Server (for which SQLAlchemy renders no
    ``FOR UPDATE``), and nothing on SQLite, whose write transaction holds the database."""
    return select.with_for_update().with_hint(table, "WITH (UPDLOCK, ROWLOCK)", "mssql")


def claim_due_operations(dialect_name: str) -> sa.TextualSelect:
    """Lease up to :limit operations due at :now (pending, waiting to retry, or with an
    expired lease) to :worker until :lease_until, oldest first, and return them.

    Locks the claimed rows for the rest of the transaction; rows locked by another
    worker's claim are skipped, not waited for (SQLite: the database write lock)."""
    return (
        sa.text(_dialect_sql(dialect_name, "CLAIM_DUE_OPERATIONS"))
        .bindparams(
            sa.bindparam("now", type_=UtcDateTime()),
            sa.bindparam("lease_until", type_=UtcDateTime()),
            sa.bindparam("limit", type_=sa.Integer()),
            sa.bindparam("worker", type_=sa.String()),
        )
        .columns(*tables.operation.c)
    )


def claim_outbox(dialect_name: str) -> sa.TextualSelect:
    """Hold up to :limit of the oldest unpublished outbox rows for relay :relay until
    :until, and return them: rows no relay holds, rows whose hold ended by :now, and rows
    :relay holds already (its own unacknowledged rows, sent again).

    Locks the claimed rows for the rest of the transaction; rows another relay's claim
    has locked are skipped, not waited for (SQLite: the database write lock)."""
    outbox = tables.outbox
    return (
        sa.text(_dialect_sql(dialect_name, "CLAIM_OUTBOX"))
        .bindparams(
            sa.bindparam("now", type_=UtcDateTime()),
            sa.bindparam("until", type_=UtcDateTime()),
            sa.bindparam("limit", type_=sa.Integer()),
            sa.bindparam("relay", type_=sa.String()),
        )
        .columns(
            outbox.c.id,
            outbox.c.event_id,
            outbox.c.event_type,
            outbox.c.schedule_id,
            outbox.c.occurred_at,
            outbox.c.payload,
        )
    )


def lateness_per_minute(dialect_name: str) -> sa.TextClause:
    """Per minute in [:since, :until) (its number from 0), the first attempts at
    executions started in it: `started`, `max_seconds` and `total_seconds` of lateness.
    Reads only."""
    return sa.text(_dialect_sql(dialect_name, "LATENESS_PER_MINUTE")).bindparams(
        sa.bindparam("since", type_=UtcDateTime()), sa.bindparam("until", type_=UtcDateTime())
    )
