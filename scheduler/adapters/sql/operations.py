"""Operations in SQL: materialise, claim, record outcomes, cancel."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from scheduler.adapters.sql import bulk, statements, tables
from scheduler.domain.money import Money
from scheduler.domain.operation import Operation, OperationKind, OperationStatus, Outcome
from scheduler.ports import Occurrences

_t = tables.operation
_OPEN = (OperationStatus.PENDING.value, OperationStatus.RETRY_WAIT.value)
_STOPPED = {OperationStatus.FAILED, OperationStatus.DEAD}
#: An execution in these states that was never attempted has not started.
_NOT_STARTED = (OperationStatus.PENDING.value, OperationStatus.CANCELLED.value)


class SqlOperationRepository:
    """`OperationRepository` over one connection (the unit of work's transaction)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def add(self, operations: Sequence[Operation], at: datetime) -> None:
        if operations:
            bulk.insert_rows(
                self._connection, _t, [_row(operation, at) for operation in operations]
            )

    def claim_due(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> list[Operation]:
        statement = statements.claim_due_operations(self._connection.dialect.name)
        rows = self._connection.execute(
            statement, {"now": now, "limit": limit, "worker": worker, "lease_until": lease_until}
        )
        return sorted((_operation(row) for row in rows), key=lambda op: op.due_at)

    def leased(
        self, operation_ids: Sequence[UUID], *, worker: str, now: datetime
    ) -> list[Operation]:
        found: list[Operation] = []
        for chunk in statements.in_list_chunks(sorted(operation_ids)):
            rows = self._connection.execute(
                sa.select(_t).where(
                    _t.c.id.in_(chunk),
                    _t.c.status == OperationStatus.CLAIMED.value,
                    _t.c.lease_owner == worker,
                    _t.c.lease_expires_at > now,
                )
            )
            found.extend(_operation(row) for row in rows)
        return sorted(found, key=lambda op: op.due_at)

    def record_many(self, outcomes: Sequence[Outcome], *, worker: str) -> set[UUID]:
        # Lock the rows first, so that the outcomes of the rows this worker still holds
        # are then written by one executemany that cannot miss.
        held = self._held_by(worker, outcomes)
        won = [outcome for outcome in outcomes if outcome.operation.id in held]
        if won:
            result = self._connection.execute(_RECORD, [_recorded(o, worker) for o in won])
            if self._connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(
                won
            ):
                raise RuntimeError(f"recorded {result.rowcount} of {len(won)} locked operations")
        return {outcome.operation.id for outcome in won}

    def _held_by(self, worker: str, outcomes: Sequence[Outcome]) -> set[UUID]:
        """Ids of the outcomes' operations still CLAIMED by `worker` at the claim the
        outcome answers (same attempt number), locked until commit."""
        attempts = {outcome.operation.id: outcome.operation.attempts for outcome in outcomes}
        held: set[UUID] = set()
        for chunk in statements.in_list_chunks(sorted(attempts)):
            query: sa.Select[Any] = sa.select(_t.c.id, _t.c.attempts).where(
                _t.c.id.in_(chunk),
                _t.c.status == OperationStatus.CLAIMED.value,
                _t.c.lease_owner == worker,
            )
            for row in self._connection.execute(statements.lock_rows(query, _t)):
                if attempts[row.id] == row.attempts:
                    held.add(row.id)
        return held

    def cancel_open(self, schedule_id: UUID, at: datetime) -> list[Operation]:
        return self._cancel(sa.and_(_t.c.schedule_id == schedule_id, _t.c.status.in_(_OPEN)), at)

    def cancel_not_started(self, schedule_id: UUID, at: datetime) -> list[Operation]:
        return self._cancel(
            sa.and_(
                _t.c.schedule_id == schedule_id,
                _t.c.status == OperationStatus.PENDING.value,
                _t.c.attempts == 0,
            ),
            at,
        )

    def occurrences_so_far(self, schedule_id: UUID) -> Occurrences:
        started = sa.and_(
            _t.c.kind == OperationKind.EXECUTION.value,
            sa.or_(_t.c.attempts > 0, _t.c.status.not_in(_NOT_STARTED)),
        )
        row = self._connection.execute(
            sa.select(
                sa.func.max(_t.c.occurrence_index).label("highest_index"),
                sa.func.max(sa.case((started, _t.c.nominal_date))).label("latest_started"),
            ).where(_t.c.schedule_id == schedule_id)
        ).one()
        return Occurrences(highest_index=row.highest_index, latest_started=row.latest_started)

    def _cancel(self, condition: sa.ColumnElement[bool], at: datetime) -> list[Operation]:
        rows = self._connection.execute(sa.select(_t).where(condition)).all()
        if rows:
            self._connection.execute(
                _t.update()
                .where(condition)
                .values(status=OperationStatus.CANCELLED.value, updated_at=at)
            )
        cancelled = OperationStatus.CANCELLED
        return [dataclasses.replace(_operation(row), status=cancelled) for row in rows]

    def next_due_at(self) -> datetime | None:
        # The claim index's own predicate, so this reads one entry of ix_operation_claim.
        claimable = sa.text(tables.CLAIMABLE)
        due: datetime | None = self._connection.execute(
            sa.select(sa.func.min(_t.c.available_at)).where(claimable)
        ).scalar_one()
        return due

    def in_flight(self, schedule_id: UUID) -> list[Operation]:
        rows = self._connection.execute(
            sa.select(_t).where(
                _t.c.schedule_id == schedule_id, _t.c.status == OperationStatus.CLAIMED.value
            )
        )
        return [_operation(row) for row in rows]

    def unfinished_executions(self, schedule_ids: Sequence[UUID]) -> set[UUID]:
        unfinished = (*_OPEN, OperationStatus.CLAIMED.value)
        found: set[UUID] = set()
        for chunk in statements.in_list_chunks(sorted(schedule_ids)):
            rows = self._connection.execute(
                sa.select(_t.c.schedule_id)
                .distinct()
                .where(
                    _t.c.schedule_id.in_(chunk),
                    _t.c.kind == OperationKind.EXECUTION.value,
                    _t.c.status.in_(unfinished),
                )
            )
            found.update(row.schedule_id for row in rows)
        return found

    def get(self, operation_id: UUID) -> Operation | None:
        row = self._connection.execute(sa.select(_t).where(_t.c.id == operation_id)).first()
        return None if row is None else _operation(row)

    def lock(self, operation_id: UUID) -> Operation | None:
        query: sa.Select[Any] = sa.select(_t).where(_t.c.id == operation_id)
        row = self._connection.execute(statements.lock_rows(query, _t)).first()
        return None if row is None else _operation(row)

    def redrive(self, operation_id: UUID, at: datetime) -> None:
        result = self._connection.execute(
            _t.update()
            .where(_t.c.id == operation_id)
            .values(
                status=OperationStatus.PENDING.value,
                available_at=at,
                lease_owner=None,
                lease_expires_at=None,
                declines=0,
                attempts_before_redrive=_t.c.attempts,
                updated_at=at,
            )
        )
        if result.rowcount != 1:
            raise RuntimeError(f"re-driving {operation_id} changed {result.rowcount} rows")

    def page_by_status(
        self,
        *,
        statuses: Sequence[OperationStatus],
        customer_id: str | None,
        schedule_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[tuple[Operation, datetime]]:
        if not set(statuses) <= _STOPPED:
            raise ValueError("only failed and dead operations are listed by status")
        # The index's own predicate, literally, so every dialect can use the partial index.
        query = sa.select(_t).where(
            sa.text(tables.STOPPED), _t.c.status.in_([status.value for status in statuses])
        )
        if customer_id is not None:
            query = query.where(_t.c.customer_id == customer_id)
        if schedule_id is not None:
            query = query.where(_t.c.schedule_id == schedule_id)
        if after is not None:
            # Spelled out (SQL Server has no row-value comparison), with the bound on
            # updated_at alone first, so that an index on it can start the scan there.
            updated_at, operation_id = after
            query = query.where(
                _t.c.updated_at <= updated_at,
                sa.or_(_t.c.updated_at < updated_at, _t.c.id < operation_id),
            )
        rows = self._connection.execute(
            query.order_by(_t.c.updated_at.desc(), _t.c.id.desc()).limit(limit)
        )
        return [(_operation(row), row.updated_at) for row in rows]


#: Store one outcome (executemany); the guards repeat what `_held_by` checked under lock.
_RECORD = (
    _t.update()
    .where(
        _t.c.id == sa.bindparam("b_id"),
        _t.c.status == OperationStatus.CLAIMED.value,
        _t.c.lease_owner == sa.bindparam("b_worker"),
        _t.c.attempts == sa.bindparam("b_attempts"),
    )
    .values(
        status=sa.bindparam("b_status"),
        available_at=sa.bindparam("b_available_at"),
        lease_owner=None,
        lease_expires_at=None,
        declines=_t.c.declines + sa.bindparam("b_declined"),
        last_error_code=sa.bindparam("b_error_code"),
        last_error_reason=sa.bindparam("b_reason"),
        updated_at=sa.bindparam("b_finished_at"),
    )
)


def _recorded(outcome: Outcome, worker: str) -> dict[str, Any]:
    final = outcome.status is not OperationStatus.RETRY_WAIT
    return {
        "b_id": outcome.operation.id,
        "b_worker": worker,
        "b_attempts": outcome.operation.attempts,
        "b_status": outcome.status.value,
        # A final operation is never claimable again, whatever available_at says.
        "b_available_at": outcome.finished_at if final else outcome.retry_at,
        "b_declined": 1 if outcome.declined else 0,
        "b_error_code": outcome.error_code,
        "b_reason": outcome.reason,
        "b_finished_at": outcome.finished_at,
    }


def _row(operation: Operation, at: datetime) -> dict[str, Any]:
    return {
        "id": operation.id,
        "schedule_id": operation.schedule_id,
        "customer_id": operation.customer_id,
        "kind": operation.kind.value,
        "occurrence_index": operation.occurrence_index,
        "reminder_offset": operation.reminder_offset,
        "nominal_date": operation.nominal_date,
        "execution_date": operation.execution_date,
        "due_at": operation.due_at,
        "status": operation.status.value,
        "available_at": operation.due_at,
        "attempts": operation.attempts,
        "declines": operation.declines,
        "attempts_before_redrive": operation.attempts_before_redrive,
        "lease_owner": None,
        "lease_expires_at": None,
        "debit_account": operation.debit_account,
        "credit_account": operation.credit_account,
        "amount": operation.amount.amount,
        "currency": operation.amount.currency.code,
        "last_error_code": None,
        "last_error_reason": None,
        "updated_at": at,
        "traceparent": operation.traceparent,
    }


def _operation(row: sa.Row[Any]) -> Operation:
    return Operation(
        id=row.id,
        schedule_id=row.schedule_id,
        customer_id=row.customer_id,
        kind=OperationKind(row.kind),
        occurrence_index=row.occurrence_index,
        reminder_offset=row.reminder_offset,
        nominal_date=row.nominal_date,
        execution_date=row.execution_date,
        due_at=row.due_at,
        status=OperationStatus(row.status),
        attempts=row.attempts,
        declines=row.declines,
        attempts_before_redrive=row.attempts_before_redrive,
        debit_account=row.debit_account,
        credit_account=row.credit_account,
        amount=Money.of(row.amount, row.currency),
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        last_error_code=row.last_error_code,
        last_error_reason=row.last_error_reason,
        traceparent=row.traceparent,
    )
