"""Steps of a schedule's life against a real store, for use-case tests: claim and
execute what is due as a worker would, and read back the rows a change leaves."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.operation import Operation
from scheduler.ports import PaymentGateway
from scheduler.service.claim_due import claim_due
from scheduler.service.execute_claimed import (
    Dispatch,
    ExecutionReport,
    TransactionMode,
    execute_claimed,
)
from tests.support.clock import SettableClock

WORKER = "worker-1"

#: A row of any shape, as a query returns it.
AnyRow = sa.Row[*tuple[Any, ...]]


def claim(engine: sa.Engine, clock: SettableClock) -> list[Operation]:
    return claim_due(
        uow=SqlUnitOfWork(engine),
        clock=clock,
        worker=WORKER,
        limit=100,
        lease=timedelta(seconds=60),
    )


def execute(
    engine: sa.Engine,
    clock: SettableClock,
    gateway: PaymentGateway,
    claimed: Sequence[Operation],
    mode: TransactionMode = TransactionMode.BATCH,
) -> ExecutionReport:
    dispatch = Dispatch(
        uow_factory=lambda: SqlUnitOfWork(engine),
        gateway=gateway,
        clock=clock,
        worker=WORKER,
        mode=mode,
        rng=random.Random(7),  # noqa: S311 - retry jitter, not security
    )
    return execute_claimed(claimed, dispatch)


def run_due(
    engine: sa.Engine,
    clock: SettableClock,
    gateway: PaymentGateway,
    at: datetime,
    mode: TransactionMode = TransactionMode.BATCH,
) -> tuple[list[Operation], ExecutionReport]:
    """Move the clock to `at`, claim whatever is due and execute it."""
    clock.advance_to(at)
    claimed = claim(engine, clock)
    return claimed, execute(engine, clock, gateway, claimed, mode)


def schedule_row(engine: sa.Engine, schedule_id: uuid.UUID) -> AnyRow:
    s = tables.schedule
    with engine.connect() as connection:
        return connection.execute(
            sa.select(s.c.status, s.c.version, s.c.next_index).where(s.c.id == schedule_id)
        ).one()


def operation_rows(engine: sa.Engine, schedule_id: uuid.UUID) -> list[tuple[int, str, str]]:
    """(occurrence index, kind, status) of every operation of the schedule, in order."""
    o = tables.operation
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(o.c.occurrence_index, o.c.kind, o.c.status)
            .where(o.c.schedule_id == schedule_id)
            .order_by(o.c.occurrence_index, o.c.kind)
        ).all()
    return [(row.occurrence_index, row.kind, row.status) for row in rows]


def operation_ids(engine: sa.Engine, schedule_id: uuid.UUID) -> dict[tuple[int, str], uuid.UUID]:
    o = tables.operation
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(o.c.id, o.c.occurrence_index, o.c.kind).where(o.c.schedule_id == schedule_id)
        ).all()
    return {(row.occurrence_index, row.kind): row.id for row in rows}


def schedule_audit(engine: sa.Engine, schedule_id: uuid.UUID) -> list[AnyRow]:
    """The audit records about the schedule itself, oldest first."""
    a = tables.audit_record
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(a.c.action, a.c.actor, a.c.details, a.c.occurred_at, a.c.correlation_id)
                .where(a.c.subject_type == "schedule", a.c.subject_id == str(schedule_id))
                .order_by(a.c.seq)
            ).all()
        )


def outbox_events(engine: sa.Engine, schedule_id: uuid.UUID) -> list[AnyRow]:
    """The schedule's outbox events, oldest first."""
    e = tables.outbox
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(e.c.event_type, e.c.payload, e.c.occurred_at)
                .where(e.c.schedule_id == schedule_id)
                .order_by(e.c.id)
            ).all()
        )


def outbox_event_types(engine: sa.Engine, schedule_id: uuid.UUID) -> list[str]:
    return [row.event_type for row in outbox_events(engine, schedule_id)]


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a status change or an execution could touch, for before/after checks."""
    ordered = {
        tables.schedule: tables.schedule.c.id,
        tables.operation: tables.operation.c.id,
        tables.audit_record: tables.audit_record.c.seq,
        tables.outbox: tables.outbox.c.id,
        tables.execution_attempt: tables.execution_attempt.c.id,
        tables.ledger_entry: tables.ledger_entry.c.id,
    }
    with engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(sa.select(table).order_by(key))]
            for table, key in ordered.items()
        }
