"""An amendment racing a worker on PostgreSQL: the worker claims the occurrence waiting
to run while the amendment's transaction is open. The claimed occurrence must count as
started, so the amended series starts after it and that date is not paid twice.

(SQLite cannot stage this race: its single writer makes the claim wait for the
amendment to commit.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Self

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import migrate, tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.operations import SqlOperationRepository
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.operation import Operation
from scheduler.service.amend_schedule import AmendSchedule, amend_schedule
from scheduler.service.claim_due import claim_due
from tests.services import postgres
from tests.support import schedules
from tests.support.clock import SettableClock, january

pytestmark = pytest.mark.integration

WEEKLY = {
    "kind": "recurring_payment",
    "debit_account": "GB-DEBIT-1",
    "credit_account": "GB-CREDIT-1",
    "amount": {"value": "100.00", "currency": "GBP"},
    "start_date": "2027-01-05",
    "time_of_day": "09:00",
    "time_zone": "Europe/London",
    "recurrence": {"frequency": "weekly", "count": 4},
    "reminders": [],
}


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    with postgres.scratch_database(postgres_url, "tsched_amend_race") as url:
        engine = create_engine(url)
        migrate.upgrade(engine)
        yield engine
        engine.dispose()


class _ClaimedMeanwhile(SqlUnitOfWork):
    """A unit of work in which, just before the amendment cancels what has not started,
    a worker on another connection claims what is due and commits."""

    def __init__(self, engine: sa.Engine, worker_clock: SettableClock) -> None:
        super().__init__(engine)
        self.claimed: list[Operation] = []
        self._engine = engine
        self._clock = worker_clock

    def __enter__(self) -> Self:
        super().__enter__()
        assert self._connection is not None
        unit = self

        class Racing(SqlOperationRepository):
            def cancel_not_started(self, schedule_id: uuid.UUID, at: datetime) -> list[Operation]:
                unit.claimed = claim_due(
                    uow=SqlUnitOfWork(unit._engine),
                    clock=unit._clock,
                    worker="racer",
                    limit=10,
                    lease=timedelta(seconds=60),
                )
                return super().cancel_not_started(schedule_id, at)

        self.operations = Racing(self._connection)
        return self


def test_an_occurrence_claimed_during_an_amendment_counts_as_started(engine: sa.Engine) -> None:
    clock = SettableClock(january(1, 12, second=0))
    schedule_id = schedules.create(engine, clock, WEEKLY)
    # The amendment starts a second before the first payment is due; the worker claims
    # it at its due time, while the amendment's transaction is still open.
    clock.advance_to(january(5, 8, minute=59, second=59))
    worker_clock = SettableClock(january(5, 9, second=0))
    racing = _ClaimedMeanwhile(engine, worker_clock)

    amend_schedule(
        AmendSchedule(
            schedule_id=schedule_id,
            customer_id="alice",
            change={"amount": {"value": "150.00", "currency": "GBP"}},
            expected_version=1,
            actor="customer:alice",
        ),
        uow=racing,
        clock=clock,
    )

    assert [op.nominal_date.isoformat() for op in racing.claimed] == ["2027-01-05"]
    o = tables.operation.c
    with engine.connect() as connection:
        open_executions = connection.execute(
            sa.select(o.nominal_date, o.status, o.amount)
            .where(o.schedule_id == schedule_id, o.status.in_(["pending", "claimed"]))
            .order_by(o.nominal_date)
        ).all()
    assert [(str(row.nominal_date), row.status, str(row.amount)) for row in open_executions] == [
        ("2027-01-05", "claimed", "100.0000"),
        ("2027-01-12", "pending", "150.0000"),
    ]
