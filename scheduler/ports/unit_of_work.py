"""One transaction over every repository."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, Self

from scheduler.ports.audit import AuditRepository
from scheduler.ports.figures import OperationsFigures
from scheduler.ports.history import HistoryRepository
from scheduler.ports.idempotency import IdempotencyRepository
from scheduler.ports.operations import OperationRepository
from scheduler.ports.outbox import OutboxRepository
from scheduler.ports.schedules import ScheduleRepository


class UnitOfWork(Protocol):
    """One transaction over the store. Leaving the `with` block without `commit()` rolls
    everything back; the same object may be entered again for the next transaction.

    The repositories are read-only members so that an implementation may declare its
    concrete repository types (a mutable protocol attribute would have to match exactly).
    """

    @property
    def schedules(self) -> ScheduleRepository: ...

    @property
    def operations(self) -> OperationRepository: ...

    @property
    def history(self) -> HistoryRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def figures(self) -> OperationsFigures: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def commit(self) -> None:
        """Make the transaction's changes durable."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception inside undoes only what the block did."""
        ...
