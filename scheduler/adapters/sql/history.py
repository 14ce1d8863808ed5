"""The execution history in SQL: one row per attempt."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from scheduler.adapters.sql import bulk, tables
from scheduler.domain.operation import Outcome


class SqlHistoryRepository:
    """`HistoryRepository` over one connection (the unit of work's transaction)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def add(self, outcomes: Sequence[Outcome], *, worker: str) -> None:
        if not outcomes:
            return
        bulk.insert_rows(
            self._connection,
            tables.execution_attempt,
            [
                {
                    "operation_id": outcome.operation.id,
                    "schedule_id": outcome.operation.schedule_id,
                    "customer_id": outcome.operation.customer_id,
                    "kind": outcome.operation.kind.value,
                    "attempt": outcome.operation.attempts,
                    "worker": worker,
                    "due_at": outcome.operation.due_at,
                    "started_at": outcome.started_at,
                    "finished_at": outcome.finished_at,
                    "outcome": outcome.status.value,
                    "error_code": outcome.error_code,
                    "reason": outcome.reason,
                    "recommended_action": outcome.recommended_action,
                    "gateway_reference": outcome.gateway_reference,
                    "debit_account": outcome.operation.debit_account,
                    "credit_account": outcome.operation.credit_account,
                    "amount": outcome.operation.amount.amount,
                    "currency": outcome.operation.amount.currency.code,
                }
                for outcome in outcomes
            ],
        )
