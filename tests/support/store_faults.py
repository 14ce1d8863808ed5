"""Azure SQL's transient errors, played on a SQLite store: a statement fails as pyodbc
reports a native SQL Server error, raised as the driver's own error so that SQLAlchemy
wraps it (`OperationalError`, `orig` the driver error) exactly as it wraps a real one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

#: "Database on server is not currently available" (a reconfiguration or failover).
DATABASE_UNAVAILABLE = 40613
#: "Violation of PRIMARY KEY constraint": a real error, never worth retrying.
PRIMARY_KEY_VIOLATION = 2627


def pyodbc_message(number: int, text: str = "The statement failed.") -> str:
    """An error message as pyodbc formats the first diagnostic record of a failed call."""
    return (
        f"[HY000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]{text} "
        f"({number}) (SQLExecDirectW)"
    )


class StatementFaults:
    """Makes statements of `engine` whose SQL satisfies `matches` fail with SQL Server
    error `number`, the first `times` of them (every one when `times` is None).
    `failed` counts the failures, `seen` every matching statement."""

    def __init__(
        self,
        engine: sa.Engine,
        matches: Callable[[str], bool],
        *,
        number: int = DATABASE_UNAVAILABLE,
        times: int | None = 1,
    ) -> None:
        self.failed = 0
        self.seen = 0
        self._engine = engine
        self._matches = matches
        self._number = number
        self._times = times
        sa.event.listen(engine, "before_cursor_execute", self._before)

    def remove(self) -> None:
        """Let every statement run again."""
        sa.event.remove(self._engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not self._matches(statement):
            return
        self.seen += 1
        if self._times is None or self.failed < self._times:
            self.failed += 1
            raise sqlite3.OperationalError(pyodbc_message(self._number))


def inserts_into(table: sa.Table) -> Callable[[str], bool]:
    """Whether a statement inserts into `table`."""
    prefix = f"INSERT INTO {table.name} "
    return lambda statement: statement.lstrip().upper().startswith(prefix.upper())
