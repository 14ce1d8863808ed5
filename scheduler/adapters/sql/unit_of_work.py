"""The SQL unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Self

import sqlalchemy as sa

from scheduler.adapters.sql.archive_marks import SqlArchiveMarks
from scheduler.adapters.sql.audit import SqlAuditRepository
from scheduler.adapters.sql.figures import SqlOperationsFigures
from scheduler.adapters.sql.history import SqlHistoryRepository
from scheduler.adapters.sql.idempotency import SqlIdempotencyRepository
from scheduler.adapters.sql.operations import SqlOperationRepository
from scheduler.adapters.sql.outbox import SqlOutboxRepository
from scheduler.adapters.sql.schedules import SqlScheduleRepository
from scheduler.ports import HistoryRepository


class SqlUnitOfWork:
    """A transaction over the store. ``with uow:`` begins it; leaving the block without
    `commit()` rolls it back, whatever happened inside.

    `history`, given, builds the history repository on the transaction's connection in
    place of `SqlHistoryRepository` (the runtime reads older ranges from the archive
    through it)."""

    schedules: SqlScheduleRepository
    operations: SqlOperationRepository
    history: HistoryRepository
    outbox: SqlOutboxRepository
    audit: SqlAuditRepository
    idempotency: SqlIdempotencyRepository
    archive_marks: SqlArchiveMarks
    figures: SqlOperationsFigures

    def __init__(
        self,
        engine: sa.Engine,
        *,
        history: Callable[[sa.Connection], HistoryRepository] | None = None,
    ) -> None:
        self._engine = engine
        self._history = history or SqlHistoryRepository
        self._connection: sa.Connection | None = None
        self._transaction: sa.RootTransaction | None = None

    def __enter__(self) -> Self:
        connection = self._engine.connect()
        self._connection = connection
        self._transaction = connection.begin()
        self.schedules = SqlScheduleRepository(connection)
        self.operations = SqlOperationRepository(connection)
        self.history = self._history(connection)
        self.outbox = SqlOutboxRepository(connection)
        self.audit = SqlAuditRepository(connection)
        self.idempotency = SqlIdempotencyRepository(connection)
        self.archive_marks = SqlArchiveMarks(connection)
        self.figures = SqlOperationsFigures(connection)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            self._transaction = None

    def commit(self) -> None:
        """Make the transaction's changes durable."""
        if self._transaction is None:
            raise RuntimeError("commit() outside a `with` block")
        self._transaction.commit()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an exception inside undoes only what the block did."""
        if self._connection is None:
            raise RuntimeError("savepoint() outside a `with` block")
        with self._connection.begin_nested():
            yield
