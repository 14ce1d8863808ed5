"""The execution history in SQL: one row per attempt, read latest first a keyset page
at a time, its amounts filtered exactly on every dialect (`_amount_compared`)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from scheduler.adapters.sql import bulk, tables
from scheduler.adapters.sql.engine import SQLITE_COMPARE_AMOUNTS
from scheduler.adapters.sql.types import Amount
from scheduler.domain.money import Money
from scheduler.domain.operation import Outcome
from scheduler.ports import HistoryEntry, HistoryQuery


class SqlHistoryRepository:
    """`HistoryRepository` over one connection (the unit of work's transaction).

    With `unarchived_only`, reads see only the attempts the archive has not confirmed
    yet (`archived_at` NULL): what SQL alone knows of a range the archive serves."""

    def __init__(self, connection: sa.Connection, *, unarchived_only: bool = False) -> None:
        self._connection = connection
        self._unarchived_only = unarchived_only

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

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        h = tables.execution_attempt.c
        selected = self._matching(sa.select(tables.execution_attempt), query)
        if after is not None:
            # Spelled out: SQL Server has no row-value comparison.
            finished_at, entry_id = after
            selected = selected.where(
                sa.or_(
                    h.finished_at < finished_at,
                    sa.and_(h.finished_at == finished_at, h.id < entry_id),
                )
            )
        rows = self._connection.execute(
            selected.order_by(h.finished_at.desc(), h.id.desc()).limit(limit)
        )
        return [entry_of(row) for row in rows]

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        matching = self._matching(sa.select(tables.execution_attempt.c.id), query).limit(at_most)
        counted = sa.select(sa.func.count()).select_from(matching.subquery())
        return int(self._connection.execute(counted).scalar_one())

    def _matching(self, selected: sa.Select[Any], query: HistoryQuery) -> sa.Select[Any]:
        h = tables.execution_attempt.c
        selected = selected.where(h.customer_id == query.customer_id)
        if self._unarchived_only:
            selected = selected.where(h.archived_at.is_(None))
        equal = (
            (h.schedule_id, query.schedule_id),
            (h.outcome, query.outcome),
            (h.currency, query.currency),
        )
        for column, value in equal:
            if value is not None:
                selected = selected.where(column == value)
        if query.finished_from is not None:
            selected = selected.where(h.finished_at >= query.finished_from)
        if query.finished_before is not None:
            selected = selected.where(h.finished_at < query.finished_before)
        if query.amount_min is not None:
            selected = selected.where(self._amount_compared(operator.ge, query.amount_min))
        if query.amount_max is not None:
            selected = selected.where(self._amount_compared(operator.le, query.amount_max))
        return selected

    def _amount_compared(
        self, compare: Callable[[Any, Any], sa.ColumnElement[bool]], bound: Decimal
    ) -> sa.ColumnElement[bool]:
        """`compare(amount, bound)`, exactly. NUMERIC columns compare as they are; on
        SQLite, where amounts are decimal text, through the `Decimal` comparison the
        engine registers on each connection (`engine.compare_amounts`)."""
        amount = tables.execution_attempt.c.amount
        bound_amount = sa.literal(bound, Amount())
        if self._connection.dialect.name != "sqlite":
            return compare(amount, bound_amount)
        exact = sa.Function(SQLITE_COMPARE_AMOUNTS, amount, bound_amount, type_=sa.Integer())
        return compare(exact, 0)


def entry_of(row: Any) -> HistoryEntry:
    """The history entry of an `execution_attempt` row."""
    return HistoryEntry(
        id=row.id,
        operation_id=row.operation_id,
        schedule_id=row.schedule_id,
        kind=row.kind,
        attempt=row.attempt,
        due_at=row.due_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=row.outcome,
        error_code=row.error_code,
        reason=row.reason,
        recommended_action=row.recommended_action,
        gateway_reference=row.gateway_reference,
        debit_account=row.debit_account,
        credit_account=row.credit_account,
        amount=Money.of(row.amount, row.currency),
    )
