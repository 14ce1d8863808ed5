"""Engines for the three supported databases, each set up the way the store needs it.

* SQLite (the embedded default): WAL journal, foreign keys on, every transaction
  started with BEGIN IMMEDIATE so that a claim takes the write lock before it reads, and
  an exact comparison of amounts (`compare_amounts`) as an SQL function.
* PostgreSQL through psycopg 3.
* Azure SQL through pyodbc (ODBC Driver 18): no password in configuration; an Entra ID
  access token from azure-identity is put on each new connection
  (`access_token_injector`).

The two servers get a connection pool of `pool_size` connections kept open and as many
again opened for a burst and closed when returned, so one process holds at most
`2 * pool_size` connections; every connection is pinged when taken from the pool, so one
the server or a gateway dropped is replaced instead of failing the caller.
"""

from __future__ import annotations

import re
import struct
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from types import ModuleType

    from azure.core.credentials import TokenCredential

#: pyodbc connection attribute through which the ODBC driver takes an access token.
SQL_COPT_SS_ACCESS_TOKEN = 1256
AZURE_SQL_SCOPE = "https://database.windows.net/.default"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Name of `compare_amounts` as an SQL function on every SQLite connection.
SQLITE_COMPARE_AMOUNTS = "tsched_compare_amounts"
#: Connections a server engine keeps open by default (`DATABASE_POOL_SIZE`).
DEFAULT_POOL_SIZE = 10

#: What SQLAlchemy's pyodbc connector appends to the ODBC connection string when the URL
#: names no user: Windows integrated login, which ODBC Driver 18 refuses beside an
#: access token ("a connection string when using an access token must not contain UID,
#: PWD, Authentication or Trusted_Connection").
_TRUSTED_CONNECTION = re.compile(r";Trusted_Connection=Yes(?=;|$)", re.IGNORECASE)


def create_engine(
    url: str,
    *,
    credential: TokenCredential | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    dbapi: ModuleType | None = None,
) -> sa.Engine:
    """An engine for `url`. `credential` supplies Entra ID tokens for Azure SQL (the URL
    then names no user: `mssql+pyodbc://@server:1433/db?driver=...`); `pool_size` is the
    connections PostgreSQL and Azure SQL engines keep open (see the module's docstring;
    SQLite ignores it). `dbapi` replaces the driver module, for tests only."""
    if pool_size < 1:
        raise ValueError(f"pool_size must be at least 1, not {pool_size}")
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": pool_size,
        "max_overflow": pool_size,
    }
    if dbapi is not None:
        options["module"] = dbapi
    if backend == "postgresql":
        return sa.create_engine(parsed, **options)
    if backend == "mssql":
        if credential is not None and (parsed.username or "authentication" in parsed.query):
            raise ValueError(
                "an Azure SQL URL used with an Entra ID credential names no user and no "
                "Authentication: mssql+pyodbc://@server:1433/database?driver=..."
            )
        engine = sa.create_engine(parsed, **options)
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
    """A `do_connect` listener that logs each new pyodbc connection in with an Entra ID
    access token instead of a password, as SQLAlchemy's mssql+pyodbc documentation shows
    ("Connecting to databases with access tokens"): it takes `Trusted_Connection=Yes` out
    of the connection string and passes the token as the `SQL_COPT_SS_ACCESS_TOKEN`
    attribute, UTF-16-LE bytes behind their length as a little-endian 32-bit integer.

    It asks `credential` on every new connection: azure-identity caches the token and
    renews it before it expires (after about an hour). The token is only presented at
    login (TDS cannot re-authenticate an open connection), so a connection already in
    the pool is unaffected, and a new one always gets a current token."""

    def inject(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if cargs and isinstance(cargs[0], str):
            cargs[0] = _TRUSTED_CONNECTION.sub("", cargs[0])
        token = credential.get_token(AZURE_SQL_SCOPE).token.encode("utf-16-le")
        attrs = dict(cparams.get("attrs_before", {}))
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = struct.pack(f"<I{len(token)}s", len(token), token)
        cparams["attrs_before"] = attrs

    return inject
