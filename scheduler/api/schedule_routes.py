"""Schedule management: create, read, pause, resume, cancel.

A customer sees only their own schedules: any other id is answered 404, exactly as an
id that does not exist, so ids cannot be probed. Every POST needs an
`Idempotency-Key`; changes may carry `If-Match` with the ETag a read returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from scheduler.api import cursors, schemas, store_retry
from scheduler.api.auth import Principal, Role
from scheduler.api.idempotency import (
    HEADER,
    REPLAYED_HEADER,
    REPLAYED_HEADER_DOC,
    Answer,
    IdempotentRequest,
)
from scheduler.api.representation import schedule_body, schedule_out
from scheduler.api.requests import (
    actor,
    answer_once,
    commit_channel_read,
    correlation_id,
    reader,
)
from scheduler.bootstrap import Runtime
from scheduler.domain import errors
from scheduler.domain.schedule import ScheduleKind, ScheduleStatus
from scheduler.ports import StoredSchedule, UnitOfWork
from scheduler.service.amend_schedule import AmendSchedule, amend_schedule
from scheduler.service.change_schedule_status import (
    ChangeScheduleStatus,
    ScheduleAction,
    StatusChanged,
    change_schedule_status,
)
from scheduler.service.create_schedule import CreateSchedule, create_schedule
from scheduler.service.read_schedule import read_schedule

#: Most schedules one page holds.
MAX_PAGE = 100

IdempotencyKey = Annotated[str, Header(alias=HEADER, min_length=1, max_length=128), schemas.PLAIN]
#: An opaque cursor a listing returned; audited reads keep it as sent.
Cursor = Annotated[str | None, Query(max_length=200), schemas.PLAIN]
IfMatch = Annotated[str | None, Header(alias="If-Match")]

routes = APIRouter(
    prefix="/v1/schedules", tags=["schedules"], route_class=store_retry.RetryingRoute
)

_ETAG = {
    "description": "The schedule's version, for If-Match on the next change.",
    "required": True,
    "schema": {"type": "string", "pattern": r'^"[0-9]+"$'},
}
#: The headers of an answer that is one schedule.
_SCHEDULE_HEADERS = {"ETag": _ETAG}
#: The headers of an answer to a POST that changes a schedule.
_CHANGED_HEADERS = {"ETag": _ETAG, REPLAYED_HEADER: REPLAYED_HEADER_DOC}
_CREATED_HEADERS = _CHANGED_HEADERS | {
    "Location": {
        "description": "The new schedule's URL.",
        "required": True,
        "schema": {"type": "string"},
    }
}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _caller(request: Request) -> Principal:
    authenticate: Callable[[Request], Principal] = request.app.state.authenticate
    return authenticate(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
Caller = Annotated[Principal, Depends(_caller)]


@routes.post(
    "",
    status_code=201,
    response_model=schemas.ScheduleOut,
    responses={201: {"description": "Created.", "headers": _CREATED_HEADERS}},
)
def create(
    document: schemas.ScheduleIn,
    caller: Caller,
    key: IdempotencyKey,
    request: Request,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Create a one-time transfer or a recurring payment for the caller's customer."""
    customer_id = customer_of(caller)
    definition = document.model_dump(mode="json")
    idempotent = IdempotentRequest.of(customer_id, key, "POST", request.url.path, definition)

    def run(keep: Callable[[UnitOfWork, StoredSchedule], None]) -> StoredSchedule:
        command = CreateSchedule(
            schedule=document.to_schedule(
                schedule_id=uuid.uuid4(), customer_id=customer_id, created_at=runtime.clock.now()
            ),
            definition=definition,
            channel=_channel(caller),
            actor=actor(caller),
            correlation_id=correlation_id(request),
        )
        return create_schedule(
            command,
            uow=runtime.unit_of_work(),
            clock=runtime.clock,
            accounts=runtime.accounts,
            before_commit=keep,
        )

    return _respond(
        answer_once(runtime, idempotent, 201, run, lambda stored: schedule_body(runtime, stored))
    )


@routes.get("", response_model=schemas.SchedulePage)
def page(
    *,
    caller: Caller,
    request: Request,
    runtime: RuntimeDep,
    status: ScheduleStatus | None = None,
    kind: ScheduleKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Cursor = None,
) -> schemas.SchedulePage:
    """The caller's customer's schedules, newest first, a page at a time."""
    customer_id = customer_of(caller)
    after = cursors.decode(cursor, UUID) if cursor is not None else None
    with runtime.unit_of_work() as uow:
        found = uow.schedules.page_for_customer(
            customer_id, status=status, kind=kind, after=after, limit=limit + 1
        )
        items, next_cursor = cursors.page(
            found, limit, lambda stored: (stored.schedule.created_at, stored.schedule.id)
        )
        commit_channel_read(
            uow,
            caller=caller,
            request=request,
            at=runtime.clock.now(),
            action="schedules.listed",
            subject_type="schedule",
            details={
                "filters": {"status": status, "kind": kind, "cursor": cursor, "limit": limit},
                "returned": [str(stored.schedule.id) for stored in items],
            },
        )
    return schemas.SchedulePage(
        items=[schedule_out(runtime, stored) for stored in items], next_cursor=next_cursor
    )


@routes.get(
    "/{schedule_id}",
    response_model=schemas.ScheduleOut,
    responses={200: {"description": "The schedule.", "headers": _SCHEDULE_HEADERS}},
)
def read(schedule_id: UUID, caller: Caller, request: Request, runtime: RuntimeDep) -> JSONResponse:
    """One of the caller's customer's schedules, with its next executions."""
    customer_of(caller)
    stored = read_schedule(
        schedule_id, reader=reader(caller, request), uow=runtime.unit_of_work(), clock=runtime.clock
    )
    return _respond(Answer(status_code=200, body=schedule_body(runtime, stored)))


@routes.patch(
    "/{schedule_id}",
    response_model=schemas.ScheduleOut,
    responses={
        200: {"description": "The amended schedule.", "headers": _SCHEDULE_HEADERS},
        412: {"description": "The schedule changed since the ETag given."},
    },
)
def amend(
    schedule_id: UUID,
    change: schemas.ScheduleChangeIn,
    *,
    caller: Caller,
    request: Request,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Change the amount, timing, reminders or reference of a live schedule. Needs
    `If-Match` with the ETag of the version the change is based on (a retry after
    success answers 412, so no Idempotency-Key is needed). What has not started takes
    the new terms; an execution already started finishes on the old ones."""
    customer_id = customer_of(caller)
    expected_version = _version(if_match)
    if expected_version is None:
        raise errors.PreconditionRequired("send the schedule's ETag as If-Match", field="If-Match")
    command = AmendSchedule(
        schedule_id=schedule_id,
        customer_id=customer_id,
        change=change.model_dump(mode="json", exclude_unset=True),
        expected_version=expected_version,
        actor=actor(caller),
        correlation_id=correlation_id(request),
    )
    amended = amend_schedule(command, uow=runtime.unit_of_work(), clock=runtime.clock)
    in_flight = [operation.id for operation in amended.in_flight]
    return _respond(Answer(status_code=200, body=schedule_body(runtime, amended.stored, in_flight)))


def _change(action: ScheduleAction) -> Callable[..., JSONResponse]:
    def handler(
        schedule_id: UUID,
        *,
        caller: Caller,
        key: IdempotencyKey,
        request: Request,
        runtime: RuntimeDep,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        customer_id = customer_of(caller)
        idempotent = IdempotentRequest.of(customer_id, key, "POST", request.url.path, if_match)
        command = ChangeScheduleStatus(
            schedule_id=schedule_id,
            customer_id=customer_id,
            action=action,
            actor=actor(caller),
            expected_version=_version(if_match),
            correlation_id=correlation_id(request),
        )

        def run(keep: Callable[[UnitOfWork, StatusChanged], None]) -> StatusChanged:
            return change_schedule_status(
                command, uow=runtime.unit_of_work(), clock=runtime.clock, before_commit=keep
            )

        return _respond(
            answer_once(
                runtime,
                idempotent,
                200,
                run,
                lambda result: schedule_body(
                    runtime, result.stored, [operation.id for operation in result.in_flight]
                ),
            )
        )

    handler.__doc__ = f"{action.value.capitalize()} the schedule."
    return handler


for _action in ScheduleAction:
    routes.post(
        f"/{{schedule_id}}/{_action.value}",
        response_model=schemas.ScheduleOut,
        name=f"{_action.value}_schedule",
        responses={200: {"description": "The schedule now.", "headers": _CHANGED_HEADERS}},
    )(_change(_action))


def customer_of(caller: Principal) -> str:
    """The customer a customer or channel caller's request is for."""
    caller.require(Role.CUSTOMER, Role.CHANNEL)
    return caller.require_customer()


def _channel(caller: Principal) -> str:
    return f"channel:{caller.subject}"[:32] if caller.acting_for else "api"


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise errors.ValidationError("If-Match must be an ETag this API returned", field="If-Match")
    return int(tag)


def _respond(answer: Answer) -> JSONResponse:
    """The answer with its ETag (the version), and Location for a creation."""
    body = answer.body
    headers = {"ETag": f'"{body["version"]}"'}
    if answer.status_code == 201:
        headers["Location"] = f"/v1/schedules/{body['id']}"
    if answer.replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONResponse(body, status_code=answer.status_code, headers=headers)
