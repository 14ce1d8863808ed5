"""Operations staff: the operations that stopped for good (failed, dead) across all
customers, and re-driving one of them.

Both routes need the operations or admin role. The listing is a privileged read: its
audit record is written in the read's own transaction. A re-drive is a POST, so it needs
an `Idempotency-Key`; the key is the staff member's own (`staff.key_owner`).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from scheduler.api import cursors, requests, schemas, staff, store_retry
from scheduler.api.idempotency import (
    REPLAYED_HEADER,
    REPLAYED_HEADER_DOC,
    Answer,
    IdempotentRequest,
)
from scheduler.api.requests import answer_once, correlation_id
from scheduler.api.schedule_routes import MAX_PAGE, Cursor, IdempotencyKey, RuntimeDep
from scheduler.api.staff_schemas import (
    OperationOut,
    OperationPage,
    RedriveIn,
    RedrivenOut,
    StoppedStatus,
)
from scheduler.domain.operation import OperationStatus
from scheduler.service.redrive_operation import (
    REDRIVABLE,
    RedriveOperation,
    redrive_operation,
)

routes = APIRouter(
    prefix="/v1/operations", tags=["operations"], route_class=store_retry.RetryingRoute
)


@routes.get("", response_model=OperationPage)
def page(
    *,
    caller: staff.OperationsStaff,
    request: Request,
    runtime: RuntimeDep,
    status: Annotated[list[StoppedStatus] | None, Query()] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64), schemas.PLAIN] = None,
    schedule_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Cursor = None,
) -> OperationPage:
    """Failed and dead operations (or those of the `status`es given), latest change
    first, with why each stopped and what to do about it."""
    statuses = sorted({OperationStatus(item) for item in status} if status else REDRIVABLE)
    after = cursors.decode(cursor, UUID) if cursor is not None else None
    with runtime.unit_of_work() as uow:
        found = uow.operations.page_by_status(
            statuses=statuses,
            customer_id=customer_id,
            schedule_id=schedule_id,
            after=after,
            limit=limit + 1,
        )
        items, next_cursor = cursors.page(found, limit, lambda item: (item[1], item[0].id))
        requests.audit_read(
            uow,
            caller=caller,
            request=request,
            at=runtime.clock.now(),
            action="operations.listed",
            subject_type="operation",
            customer_id=customer_id,
            details={
                "filters": {
                    "status": [item.value for item in statuses],
                    "customer_id": customer_id,
                    "schedule_id": None if schedule_id is None else str(schedule_id),
                    "cursor": cursor,
                    "limit": limit,
                },
                "returned": len(items),
            },
        )
        uow.commit()
    return OperationPage(
        items=[OperationOut.of(operation, updated_at) for operation, updated_at in items],
        next_cursor=next_cursor,
    )


@routes.post(
    "/{operation_id}/redrive",
    response_model=RedrivenOut,
    responses={
        200: {"description": "Re-driven.", "headers": {REPLAYED_HEADER: REPLAYED_HEADER_DOC}},
        404: {"description": "No operation has this id."},
        409: {"description": "The operation is not failed or dead, or its schedule is halted."},
    },
)
def redrive(
    operation_id: UUID,
    document: RedriveIn,
    *,
    caller: staff.OperationsStaff,
    key: IdempotencyKey,
    request: Request,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Send a failed or dead operation back to pending, to run at once under its own id
    (the payment gateway's idempotency key), with its reason in the audit trail."""
    idempotent = IdempotentRequest.of(
        staff.key_owner(caller), key, "POST", request.url.path, document.model_dump(mode="json")
    )
    command = RedriveOperation(
        operation_id=operation_id,
        actor=requests.actor(caller),
        reason=document.reason,
        correlation_id=correlation_id(request),
    )
    answer = answer_once(
        runtime,
        idempotent,
        200,
        lambda keep: redrive_operation(
            command, uow=runtime.unit_of_work(), clock=runtime.clock, before_commit=keep
        ),
        lambda redriven: RedrivenOut.of(redriven, document.reason).model_dump(mode="json"),
    )
    return _respond(answer)


def _respond(answer: Answer) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)
