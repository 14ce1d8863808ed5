"""Engines for the three supported databases, each set up the way the store needs it.

* SQLite (the embedded default): WAL journal, foreign keys on, every transaction
  started with BEGIN IMMEDIATE so that a claim takes the write lock before it reads, and
  an exact comparison of amounts (`compare_amounts`) as an SQL function.
* PostgreSQL through psycopg 3.
* Azure SQL through pyodbc (ODBC Driver 18): no password in configuration; an Entra ID
  access token from azure-identity is put on each new connection.
"""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

#: pyodbc connection attribute through which the ODBC driver takes an access token.
SQL_COPT_SS_ACCESS_TOKEN = 1256
AZURE_SQL_SCOPE = "https://database.windows.net/.default"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Name of `compare_amounts` as an SQL function on every SQLite connection.
SQLITE_COMPARE_AMOUNTS = "tsched_compare_amounts"


def create_engine(url: str, *, credential: TokenCredential | None = None) -> sa.Engine:
    """An engine for `url`; `credential` supplies Entra ID tokens for Azure SQL."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)
    if backend == "mssql":
        engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)
        if credential is not None:
            sa.event.listen(engine, "do_connect", access_token_injector(credential))
        return engine
    raise ValueError(f"unsupported database {backend!r}: use sqlite, postgresql or mssql")


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()
        dbapi_connection.create_function(
            SQLITE_COMPARE_AMOUNTS, 2, compare_amounts, deterministic=True
        )

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def compare_amounts(left: str, right: str) -> int:
    """-1, 0 or 1 as the amount `left` is less than, equal to or more than `right`.
    SQLite keeps amounts as decimal text (`types.Amount`), whose text order is not their
    numeric order ("9.99" > "10.00") and whose CAST goes through a binary float, so SQL
    compares them through this function and `Decimal`."""
    # Compared, not subtracted: a difference would be rounded to the context's precision.
    first, second = Decimal(left), Decimal(right)
    return (first > second) - (first < second)


def access_token_injector(credential: TokenCredential) -> Any:
    """A `do_connect` listener that gives each new pyodbc connection a fresh Entra ID
    token (azure-identity caches and renews it) instead of a password."""

    def inject(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        token = credential.get_token(AZURE_SQL_SCOPE).token.encode("utf-16-le")
        attrs = dict(cparams.get("attrs_before", {}))
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = struct.pack(f"<I{len(token)}s", len(token), token)
        cparams["attrs_before"] = attrs

    return inject
