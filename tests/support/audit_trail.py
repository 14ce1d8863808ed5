"""Writing the audit trail directly: records that occurred at a given time, sealed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import audit
from scheduler.service.seal_audit import seal_audit
from tests.support.clock import SettableClock


def write_sealed(
    engine: sa.Engine, clock: SettableClock, when: datetime, customers: Sequence[str | None]
) -> None:
    """Move `clock` to `when`, append one "schedule.created" record per customer (None:
    a record of no customer) that occurred then, and seal them."""
    clock.advance_to(when)
    with SqlUnitOfWork(engine) as uow:
        uow.audit.append(
            [
                audit.AuditEntry(
                    occurred_at=when,
                    actor="user:alice",
                    action="schedule.created",
                    subject_type="schedule",
                    subject_id=f"schedule-{number}",
                    customer_id=customer,
                )
                for number, customer in enumerate(customers)
            ]
        )
        uow.commit()
    seal_audit(uow_factory=lambda: SqlUnitOfWork(engine), clock=clock)
