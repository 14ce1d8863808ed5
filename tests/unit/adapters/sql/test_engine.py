"""Engines: the Azure SQL token login, checked against a fake pyodbc module that records
what SQLAlchemy hands the driver (no ODBC driver or server is reachable here), and the
pool each server engine gets."""

from __future__ import annotations

import struct
import types
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from azure.core.credentials import AccessToken

from scheduler.adapters.sql import engine as sql_engine

AZURE_SQL = (
    "mssql+pyodbc://@tsched-sql.database.windows.net:1433/tsched"
    "?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes"
)


class FakeCredential:
    """A `TokenCredential` handing out numbered tokens and counting the requests."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"token-{len(self.scopes)}", 4_102_444_800)


class FakeCursor:
    """Answers the few queries SQLAlchemy's SQL Server dialect asks on first connect."""

    description: list[tuple[Any, ...]] | None = None
    rowcount = -1

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, statement: str, *_parameters: Any) -> None:
        answer: Any = 1
        if "ProductVersion" in statement:
            answer = "16.0.4135.4"
        elif "schema_name()" in statement:
            answer = "dbo"
        elif "TRANSACTION_ISOLATION_LEVEL" in statement:
            answer = "READ COMMITTED"
        elif "dm_exec_sessions" in statement:
            answer = "dm_exec_sessions"
        self._rows = [(answer,)]
        self.description = [("answer", None, None, None, None, None, None)]

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def nextset(self) -> bool:
        return False

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, connection_string: str, attrs_before: dict[int, bytes]) -> None:
        self.connection_string = connection_string
        self.attrs_before = attrs_before
        self.autocommit = False

    def cursor(self) -> FakeCursor:
        return FakeCursor()

    def add_output_converter(self, *_args: Any) -> None:
        pass

    def getinfo(self, _kind: int) -> str:
        return "16.00.4135"

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeError(Exception):
    pass


def fake_pyodbc() -> tuple[types.ModuleType, list[FakeConnection]]:
    """A module shaped like pyodbc, as far as SQLAlchemy uses it, and the connections
    it opened."""
    opened: list[FakeConnection] = []
    module = types.ModuleType("fake_pyodbc")

    def connect(connection_string: str, **kwargs: Any) -> FakeConnection:
        connection = FakeConnection(connection_string, kwargs.get("attrs_before", {}))
        opened.append(connection)
        return connection

    error_classes = {
        name: type(name, (FakeError,), {})
        for name in (
            "Warning",
            "InterfaceError",
            "DatabaseError",
            "DataError",
            "OperationalError",
            "IntegrityError",
            "InternalError",
            "ProgrammingError",
            "NotSupportedError",
        )
    }
    vars(module).update(
        connect=connect,
        version="5.5.0",
        paramstyle="qmark",
        Error=FakeError,
        Cursor=FakeCursor,
        SQL_DBMS_VER=18,
        SQL_VARCHAR=12,
        SQL_WVARCHAR=-9,
        Binary=bytes,
        BinaryNull=None,
        **error_classes,
    )
    return module, opened


@pytest.fixture
def azure_sql() -> Iterator[tuple[sa.Engine, FakeCredential, list[FakeConnection]]]:
    module, opened = fake_pyodbc()
    credential = FakeCredential()
    engine = sql_engine.create_engine(AZURE_SQL, credential=credential, dbapi=module)
    yield engine, credential, opened
    engine.dispose()


def _token(attribute: bytes) -> str:
    (length,) = struct.unpack_from("<I", attribute)
    assert len(attribute) == 4 + length
    return attribute[4:].decode("utf-16-le")


def test_the_token_login_sends_no_trusted_connection_but_the_server_database_and_driver(
    azure_sql: tuple[sa.Engine, FakeCredential, list[FakeConnection]],
) -> None:
    engine, _credential, opened = azure_sql

    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))

    [first] = opened
    parts = first.connection_string.split(";")
    assert not any(part.lower().startswith("trusted_connection") for part in parts)
    assert not any(part.lower().startswith(("uid=", "pwd=")) for part in parts)
    assert "DRIVER={ODBC Driver 18 for SQL Server}" in parts
    assert "Server=tsched-sql.database.windows.net,1433" in parts
    assert "Database=tsched" in parts
    assert "Encrypt=yes" in parts


def test_the_token_goes_as_a_length_prefixed_utf16le_struct_for_the_azure_sql_scope(
    azure_sql: tuple[sa.Engine, FakeCredential, list[FakeConnection]],
) -> None:
    engine, credential, opened = azure_sql

    with engine.connect():
        pass

    [first] = opened
    assert _token(first.attrs_before[sql_engine.SQL_COPT_SS_ACCESS_TOKEN]) == "token-1"
    assert credential.scopes == [("https://database.windows.net/.default",)]


def test_each_new_connection_asks_the_credential_again(
    azure_sql: tuple[sa.Engine, FakeCredential, list[FakeConnection]],
) -> None:
    engine, credential, opened = azure_sql

    with engine.connect(), engine.connect():
        pass

    assert len(opened) == 2
    tokens = [_token(c.attrs_before[sql_engine.SQL_COPT_SS_ACCESS_TOKEN]) for c in opened]
    assert tokens == ["token-1", "token-2"]
    assert len(credential.scopes) == 2


def test_a_pooled_connection_is_reused_without_a_new_token(
    azure_sql: tuple[sa.Engine, FakeCredential, list[FakeConnection]],
) -> None:
    engine, credential, opened = azure_sql

    with engine.connect():
        pass
    with engine.connect():
        pass

    assert len(opened) == 1
    assert len(credential.scopes) == 1


def test_without_a_credential_the_connection_string_is_left_as_sqlalchemy_builds_it() -> None:
    module, opened = fake_pyodbc()
    engine = sql_engine.create_engine(AZURE_SQL.replace("@", "tsched:secret@", 1), dbapi=module)
    with engine.connect():
        pass
    engine.dispose()

    [first] = opened
    assert "UID=tsched" in first.connection_string.split(";")
    assert first.attrs_before == {}


def test_a_credential_with_a_user_in_the_url_is_refused() -> None:
    with pytest.raises(ValueError, match="names no user"):
        sql_engine.create_engine(AZURE_SQL.replace("@", "tsched@", 1), credential=FakeCredential())


def test_server_engines_ping_on_checkout_and_allow_as_many_again_in_a_burst() -> None:
    module, _opened = fake_pyodbc()
    postgres = sql_engine.create_engine("postgresql+psycopg://tsched@localhost/tsched", pool_size=4)
    azure = sql_engine.create_engine(
        AZURE_SQL, credential=FakeCredential(), pool_size=4, dbapi=module
    )
    try:
        for engine in (postgres, azure):
            pool = engine.pool
            assert isinstance(pool, sa.QueuePool)
            assert pool.size() == 4
            # The pool has no public reader of these two.
            assert pool._max_overflow == 4
            assert pool._pre_ping
    finally:
        postgres.dispose()
        azure.dispose()


def test_a_pool_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        sql_engine.create_engine("postgresql+psycopg://tsched@localhost/tsched", pool_size=0)
