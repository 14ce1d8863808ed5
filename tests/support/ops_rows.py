"""Operations, attempts and outbox rows written straight into the store at the times a
test says, for the operations figures: what they count is rows, whatever ran them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from scheduler.adapters.sql import tables


class OpsRows:
    """Rows of the schedule `schedule_id` (of customer-1, which must exist)."""

    def __init__(self, engine: sa.Engine, schedule_id: uuid.UUID) -> None:
        self._engine = engine
        self._schedule_id = schedule_id
        self._index = 1000

    def operation(
        self,
        status: str,
        available_at: datetime,
        *,
        kind: str = "execution",
        error: tuple[str, str] | None = None,
    ) -> uuid.UUID:
        """An operation in `status`, next available at `available_at`."""
        self._index += 1
        operation_id = uuid.uuid4()
        with self._engine.begin() as connection:
            connection.execute(
                sa.insert(tables.operation).values(
                    id=operation_id,
                    schedule_id=self._schedule_id,
                    customer_id="customer-1",
                    kind=kind,
                    occurrence_index=self._index,
                    reminder_offset="" if kind == "execution" else "P1D",
                    nominal_date=available_at.date(),
                    execution_date=available_at.date(),
                    due_at=available_at,
                    status=status,
                    available_at=available_at,
                    attempts=0,
                    declines=0,
                    debit_account="GB-DEBIT-1",
                    credit_account="GB-CREDIT-1",
                    amount=Decimal("10.00"),
                    currency="GBP",
                    last_error_code=error[0] if error else None,
                    last_error_reason=error[1] if error else None,
                    updated_at=available_at,
                )
            )
        return operation_id

    def attempt(
        self,
        due_at: datetime,
        started_at: datetime,
        *,
        outcome: str = "succeeded",
        attempt: int = 1,
        kind: str = "execution",
    ) -> None:
        """An attempt at a new succeeded operation, started and finished at `started_at`."""
        operation_id = self.operation("succeeded", due_at, kind=kind)
        with self._engine.begin() as connection:
            connection.execute(
                sa.insert(tables.execution_attempt).values(
                    operation_id=operation_id,
                    schedule_id=self._schedule_id,
                    customer_id="customer-1",
                    kind=kind,
                    attempt=attempt,
                    worker="worker-1",
                    due_at=due_at,
                    started_at=started_at,
                    finished_at=started_at,
                    outcome=outcome,
                    debit_account="GB-DEBIT-1",
                    credit_account="GB-CREDIT-1",
                    amount=Decimal("10.00"),
                    currency="GBP",
                )
            )
