"""The execution history: every attempt at the caller's customer's operations, latest
first, filtered by schedule, status and time, a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from scheduler.api import cursors, schemas
from scheduler.api.schedule_routes import MAX_PAGE, Caller, RuntimeDep, customer_of
from scheduler.domain import errors
from scheduler.domain.operation import OperationStatus
from scheduler.ports import HistoryEntry
from scheduler.service.event_data import masked

routes = APIRouter(prefix="/v1/history", tags=["history"])


@routes.get("", response_model=schemas.HistoryPage)
def page(
    *,
    caller: Caller,
    runtime: RuntimeDep,
    schedule_id: UUID | None = None,
    status: OperationStatus | None = None,
    finished_from: Annotated[datetime | None, Query(alias="from")] = None,
    finished_before: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> schemas.HistoryPage:
    """Attempts finished in [from, to), latest first."""
    customer_id = customer_of(caller)
    for name, moment in (("from", finished_from), ("to", finished_before)):
        if moment is not None and moment.tzinfo is None:
            raise errors.NaiveDatetime(f"{name} needs a UTC offset", field=name)
    after = cursors.decode(cursor, int) if cursor is not None else None
    with runtime.unit_of_work() as uow:
        found = uow.history.page_for_customer(
            customer_id,
            schedule_id=schedule_id,
            outcome=status.value if status is not None else None,
            finished_from=finished_from,
            finished_before=finished_before,
            after=after,
            limit=limit + 1,
        )
    items, next_cursor = cursors.page(found, limit, lambda entry: (entry.finished_at, entry.id))
    return schemas.HistoryPage(items=[_out(entry) for entry in items], next_cursor=next_cursor)


def _out(entry: HistoryEntry) -> schemas.HistoryEntryOut:
    return schemas.HistoryEntryOut(
        id=entry.id,
        operation_id=entry.operation_id,
        schedule_id=entry.schedule_id,
        kind=entry.kind,
        attempt=entry.attempt,
        status=entry.outcome,
        due_at=entry.due_at,
        started_at=entry.started_at,
        finished_at=entry.finished_at,
        amount=schemas.AmountIn(
            value=str(entry.amount.amount), currency=entry.amount.currency.code
        ),
        debit_account=masked(entry.debit_account),
        credit_account=masked(entry.credit_account),
        error_code=entry.error_code,
        reason=entry.reason,
        recommended_action=entry.recommended_action,
        gateway_reference=entry.gateway_reference,
    )
