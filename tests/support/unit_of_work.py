"""The real SQL unit of work with a test double in place of its audit repository."""

from __future__ import annotations

from typing import Self

import sqlalchemy as sa

from scheduler.adapters.sql.audit import SqlAuditRepository
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork


class UnitOfWorkWithAudit(SqlUnitOfWork):
    """`SqlUnitOfWork` whose audit repository is an instance of `audit_repository`, a
    subclass of the real one that changes a step (to stage a race, say)."""

    def __init__(self, engine: sa.Engine, audit_repository: type[SqlAuditRepository]) -> None:
        super().__init__(engine)
        self._audit_repository = audit_repository

    def __enter__(self) -> Self:
        super().__enter__()
        assert self._connection is not None
        self.audit = self._audit_repository(self._connection)
        return self
