"""Execution attempts written straight into the store, finished when a test says: the
archive's tests are about which rows move and when, not about how they were executed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from scheduler.adapters.sql import tables


class HistoryRows:
    """One schedule and one operation per customer, and attempts at it on demand."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._operations: dict[str, uuid.UUID] = {}
        self._attempts = 0

    def add(
        self, finished_at: datetime, *, customer_id: str = "customer-1", amount: str = "10.00"
    ) -> int:
        """Insert one attempt finished at `finished_at`; returns its id."""
        with self._engine.begin() as connection:
            operation_id = self._operation(connection, customer_id)
            self._attempts += 1
            return int(
                connection.execute(
                    sa.insert(tables.execution_attempt)
                    .values(
                        operation_id=operation_id,
                        schedule_id=uuid.UUID(int=1),
                        customer_id=customer_id,
                        kind="execution",
                        attempt=self._attempts,
                        worker="worker-1",
                        due_at=finished_at - timedelta(seconds=5),
                        started_at=finished_at - timedelta(seconds=1),
                        finished_at=finished_at,
                        outcome="succeeded",
                        debit_account="GB-DEBIT-1",
                        credit_account="GB-CREDIT-1",
                        amount=Decimal(amount),
                        currency="GBP",
                    )
                    .returning(tables.execution_attempt.c.id)
                ).scalar_one()
            )

    def ids(self) -> list[int]:
        """The ids of the attempts SQL holds, ascending."""
        with self._engine.connect() as connection:
            return list(
                connection.scalars(
                    sa.select(tables.execution_attempt.c.id).order_by(tables.execution_attempt.c.id)
                )
            )

    def _operation(self, connection: sa.Connection, customer_id: str) -> uuid.UUID:
        if customer_id in self._operations:
            return self._operations[customer_id]
        schedule_id, operation_id = uuid.uuid4(), uuid.uuid4()
        now = datetime(2027, 1, 1, tzinfo=UTC)
        accounts = {"debit_account": "GB-DEBIT-1", "credit_account": "GB-CREDIT-1"}
        money = {"amount": Decimal("10.00"), "currency": "GBP"}
        connection.execute(
            sa.insert(tables.schedule).values(
                id=schedule_id,
                customer_id=customer_id,
                kind="one_time_transfer",
                status="completed",
                purpose="transfer",
                time_zone="UTC",
                definition={},
                definition_version=1,
                next_index=None,
                channel="test",
                created_at=now,
                updated_at=now,
                version=1,
                **accounts,
                **money,
            )
        )
        connection.execute(
            sa.insert(tables.operation).values(
                id=operation_id,
                schedule_id=schedule_id,
                customer_id=customer_id,
                kind="execution",
                occurrence_index=0,
                reminder_offset="",
                nominal_date=date(2027, 1, 1),
                execution_date=date(2027, 1, 1),
                due_at=now,
                status="succeeded",
                available_at=now,
                attempts=1,
                declines=0,
                updated_at=now,
                **accounts,
                **money,
            )
        )
        self._operations[customer_id] = operation_id
        return operation_id
