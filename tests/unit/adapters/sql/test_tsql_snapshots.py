"""The SQL we send to databases that cannot run here, pinned by snapshot files.

SQL Server cannot run on this machine, so the T-SQL of the claim and of the migrations is
compared with committed files in `snapshots/`; PostgreSQL's migration script too, to show
review what a migration will run. A change fails with a diff; after checking the diff,
rewrite the files with ``UPDATE_SNAPSHOTS=1 pytest tests/unit/adapters/sql``.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.dialects import mssql, postgresql, sqlite
from sqlalchemy.dialects.mssql import pyodbc
from sqlalchemy.engine import Dialect

from scheduler.adapters.sql import migrate, statements, tables

SNAPSHOTS = Path(__file__).parent / "snapshots"
MSSQL_URL = "mssql+pyodbc://tsched.database.windows.net/tsched?driver=ODBC+Driver+18+for+SQL+Server"
POSTGRESQL_URL = "postgresql+psycopg://tsched@127.0.0.1/tsched"


def _assert_matches_snapshot(name: str, actual: str) -> None:
    # Trailing blanks (SQLAlchemy ends each column line with one) would not survive editors.
    actual = "".join(f"{line.rstrip()}\n" for line in actual.strip().splitlines())
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; create it with UPDATE_SNAPSHOTS=1")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"snapshots/{name}",
                tofile="now",
            )
        )
        pytest.fail(
            f"the SQL differs from snapshots/{name}; if intended, rerun with "
            f"UPDATE_SNAPSHOTS=1:\n{diff}",
            pytrace=False,
        )


def _offline_migration(url: str) -> str:
    output = io.StringIO()
    command.upgrade(migrate.alembic_config(url=url, output=output), "head", sql=True)
    return output.getvalue()


def _pyodbc() -> Dialect:
    # pyodbc takes qmark parameters; without the driver loaded the dialect would assume
    # named ones, which is not what the server receives.
    return pyodbc.dialect(paramstyle="qmark")


def _with_parameters(statement: sa.TextClause) -> str:
    """The T-SQL pyodbc sends, and the order its parameters go in."""
    compiled = statement.compile(dialect=_pyodbc())
    parameters = ", ".join(compiled.positiontup or ())
    return f"{textwrap.dedent(compiled.string).strip()}\n-- parameters: {parameters}\n"


@pytest.mark.parametrize(
    ("name", "statement"),
    [
        ("claim_due_operations", statements.claim_due_operations("mssql")),
        ("claim_outbox", statements.claim_outbox("mssql")),
        ("lateness_per_minute", statements.lateness_per_minute("mssql")),
    ],
)
def test_the_statements_written_per_dialect_compile_to_the_snapshot_t_sql(
    name: str, statement: sa.TextClause
) -> None:
    _assert_matches_snapshot(f"{name}.mssql.sql", _with_parameters(statement))


def test_the_claim_t_sql_locks_with_updlock_readpast_rowlock_and_returns_inserted_rows() -> None:
    sql = str(statements.claim_due_operations("mssql").compile(dialect=_pyodbc()))

    assert "SELECT TOP (?) *" in sql
    assert "FROM operation WITH (UPDLOCK, READPAST, ROWLOCK)" in sql
    assert "ORDER BY available_at" in sql
    assert "OUTPUT inserted.*" in sql


def test_the_outbox_claim_t_sql_skips_rows_another_relay_has_locked() -> None:
    sql = str(statements.claim_outbox("mssql").compile(dialect=_pyodbc()))

    assert "SELECT TOP (?) *" in sql
    assert "FROM outbox WITH (UPDLOCK, READPAST, ROWLOCK)" in sql
    assert "ORDER BY id" in sql
    assert "OUTPUT inserted.id" in sql


def test_sqlalchemy_renders_no_lock_hints_for_skip_locked_on_mssql() -> None:
    """Why the claim is raw T-SQL: `with_for_update(skip_locked=True)` is silently
    dropped by the mssql compiler, which would make two workers claim the same rows."""
    query = (
        sa.select(tables.operation.c.id)
        .where(tables.operation.c.status == "pending")
        .order_by(tables.operation.c.available_at)
        .limit(10)
        .with_for_update(skip_locked=True)
    )

    tsql = str(query.compile(dialect=_pyodbc()))
    postgres_sql = str(query.compile(dialect=postgresql.dialect()))

    assert "READPAST" not in tsql
    assert "UPDLOCK" not in tsql
    assert "WITH (" not in tsql
    assert "FOR UPDATE SKIP LOCKED" in postgres_sql


def test_the_migrations_compile_to_the_snapshot_t_sql() -> None:
    _assert_matches_snapshot("migrations.mssql.sql", _offline_migration(MSSQL_URL))


def test_the_migrations_compile_to_the_snapshot_postgresql() -> None:
    _assert_matches_snapshot("migrations.postgresql.sql", _offline_migration(POSTGRESQL_URL))


def test_the_migration_t_sql_uses_exact_decimals_utc_datetime2_and_filtered_indexes() -> None:
    tsql = _offline_migration(MSSQL_URL)

    assert "amount NUMERIC(19, 4) NOT NULL" in tsql
    assert "due_at DATETIME2(6) NOT NULL" in tsql
    assert "seq BIGINT NOT NULL IDENTITY" in tsql
    assert " TEXT " not in tsql
    assert (
        "CREATE INDEX ix_operation_claim ON operation (available_at) "
        "WHERE status IN ('pending', 'retry_wait', 'claimed');"
    ) in tsql
    assert "CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;" in tsql


def _normalised(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        (MSSQL_URL, mssql.dialect(deprecate_large_types=True)),
        (POSTGRESQL_URL, postgresql.dialect()),
        ("sqlite:///tsched.sqlite3", sqlite.dialect()),
    ],
    ids=["mssql", "postgresql", "sqlite"],
)
def test_the_migration_creates_exactly_the_tables_and_indexes_of_tables_py(
    url: str, dialect: Dialect
) -> None:
    """Statement for statement, the migration's DDL is what `tables.metadata` compiles to,
    partial-index WHERE clauses included (which a schema comparison does not look at). A
    column a later revision adds (`ALTER TABLE t ADD c`) is expected there, with the same
    definition, and not in its table's CREATE TABLE."""
    script = _normalised(_offline_migration(url))
    added = set(re.findall(r"ALTER TABLE (\w+) ADD (?:COLUMN )?(\w+) ", script))
    statements_ = []
    for table in tables.metadata.sorted_tables:
        create = _normalised(str(sa.schema.CreateTable(table).compile(dialect=dialect)))
        for column in table.columns:
            if (table.name, column.name) in added:
                definition = _normalised(
                    str(sa.schema.CreateColumn(column).compile(dialect=dialect))
                )
                create = create.replace(f" {definition},", "")
                keyword = "ADD" if dialect.name == "mssql" else "ADD COLUMN"
                statements_.append(f"ALTER TABLE {table.name} {keyword} {definition};")
        statements_.append(create)
        statements_.extend(
            _normalised(str(sa.schema.CreateIndex(index).compile(dialect=dialect)))
            for index in table.indexes
        )

    missing = [statement for statement in statements_ if statement not in script]

    assert missing == []
    assert added == {
        ("audit_block", "record_hashes"),
        ("outbox", "relay_owner"),
        ("outbox", "relay_until"),
        ("execution_attempt", "archived_at"),
        ("audit_record", "archived_at"),
        ("audit_block", "archived_at"),
        ("audit_block", "records_purged_at"),
        ("outbox", "queued_at"),
        ("operation", "traceparent"),
    }
    assert len(statements_) == 35
