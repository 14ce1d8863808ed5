"""Schedule management: create, read, pause, resume, cancel.

A customer sees only their own schedules: any other id is answered 404, exactly as an
id that does not exist, so ids cannot be probed. Every POST needs an
`Idempotency-Key`; changes may carry `If-Match` with the ETag a read returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from scheduler.api import cursors, schemas
from scheduler.api.auth import Principal, Role
from scheduler.api.idempotency import HEADER, IdempotentRequest
from scheduler.bootstrap import Runtime
from scheduler.domain import errors, plan
from scheduler.domain.schedule import ScheduleKind, ScheduleStatus
from scheduler.ports import StoredSchedule, UnitOfWork
from scheduler.service.change_schedule_status import (
    ChangeScheduleStatus,
    ScheduleAction,
    StatusChanged,
    change_schedule_status,
)
from scheduler.service.create_schedule import CreateSchedule, create_schedule

#: Planned executions a schedule's representation lists.
NEXT_EXECUTIONS = 3
#: Most schedules one page holds.
MAX_PAGE = 100

IdempotencyKey = Annotated[str, Header(alias=HEADER, min_length=1, max_length=128)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]

routes = APIRouter(prefix="/v1/schedules", tags=["schedules"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _caller(request: Request) -> Principal:
    authenticate: Callable[[Request], Principal] = request.app.state.authenticate
    return authenticate(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
Caller = Annotated[Principal, Depends(_caller)]


@routes.post("", status_code=201, response_model=schemas.ScheduleOut)
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
    now = runtime.clock.now()
    with runtime.unit_of_work() as uow:
        replayed = idempotent.replay(uow, now)
    if replayed is not None:
        return _with_headers(replayed)
    _require_holder(runtime, customer_id, document.debit_account)
    schedule = document.to_schedule(
        schedule_id=uuid.uuid4(), customer_id=customer_id, created_at=now
    )
    body: dict[str, Any] = {}

    def keep_response(uow: UnitOfWork, stored: StoredSchedule) -> None:
        body.update(_representation(runtime, stored).model_dump(mode="json"))
        idempotent.keep(uow, 201, body, now)

    command = CreateSchedule(
        schedule=schedule,
        definition=definition,
        channel=_channel(caller),
        actor=_actor(caller),
        correlation_id=_correlation_id(request),
    )
    try:
        create_schedule(
            command, uow=runtime.unit_of_work(), clock=runtime.clock, before_commit=keep_response
        )
    except sa.exc.IntegrityError:
        return _replay_after_race(runtime, idempotent)
    return _with_headers(JSONResponse(body, status_code=201))


@routes.get("", response_model=schemas.SchedulePage)
def page(
    *,
    caller: Caller,
    runtime: RuntimeDep,
    status: ScheduleStatus | None = None,
    kind: ScheduleKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> schemas.SchedulePage:
    """The caller's customer's schedules, newest first, a page at a time."""
    customer_id = customer_of(caller)
    after = cursors.decode(cursor, UUID) if cursor is not None else None
    with runtime.unit_of_work() as uow:
        found = uow.schedules.page_for_customer(
            customer_id, status=status, kind=kind, after=after, limit=limit + 1
        )
    items = found[:limit]
    last = items[-1].schedule if len(found) > limit else None
    return schemas.SchedulePage(
        items=[_representation(runtime, stored) for stored in items],
        next_cursor=None if last is None else cursors.encode(last.created_at, last.id),
    )


@routes.get("/{schedule_id}", response_model=schemas.ScheduleOut)
def read(schedule_id: UUID, caller: Caller, runtime: RuntimeDep) -> JSONResponse:
    """One of the caller's customer's schedules, with its next executions."""
    customer_id = customer_of(caller)
    with runtime.unit_of_work() as uow:
        stored = uow.schedules.get_many([schedule_id]).get(schedule_id)
    if stored is None or stored.schedule.customer_id != customer_id:
        raise errors.UnknownSchedule(str(schedule_id))
    return _with_headers(JSONResponse(_representation(runtime, stored).model_dump(mode="json")))


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
        now = runtime.clock.now()
        with runtime.unit_of_work() as uow:
            replayed = idempotent.replay(uow, now)
            stored = uow.schedules.get_many([schedule_id]).get(schedule_id)
        if replayed is not None:
            return _with_headers(replayed)
        if stored is None or stored.schedule.customer_id != customer_id:
            raise errors.UnknownSchedule(str(schedule_id))
        body: dict[str, Any] = {}

        def keep_response(uow: UnitOfWork, result: StatusChanged) -> None:
            body.update(_changed(runtime, result))
            idempotent.keep(uow, 200, body, now)

        command = ChangeScheduleStatus(
            schedule_id=schedule_id,
            action=action,
            actor=_actor(caller),
            expected_version=_version(if_match),
            correlation_id=_correlation_id(request),
        )
        try:
            result = change_schedule_status(
                command,
                uow=runtime.unit_of_work(),
                clock=runtime.clock,
                before_commit=keep_response,
            )
        except sa.exc.IntegrityError:
            return _replay_after_race(runtime, idempotent)
        return _with_headers(JSONResponse(body or _changed(runtime, result)))

    handler.__doc__ = f"{action.value.capitalize()} the schedule."
    return handler


for _action in ScheduleAction:
    routes.post(
        f"/{{schedule_id}}/{_action.value}",
        response_model=schemas.ScheduleOut,
        name=f"{_action.value}_schedule",
    )(_change(_action))


def customer_of(caller: Principal) -> str:
    """The customer a customer or channel caller's request is for."""
    caller.require(Role.CUSTOMER, Role.CHANNEL)
    return caller.require_customer()


def _require_holder(runtime: Runtime, customer_id: str, account_id: str) -> None:
    """Refuse a debit from an account the customer does not hold. The problem is the
    same whether the account exists or not, so accounts cannot be probed."""
    if runtime.accounts is not None and not runtime.accounts.holds(customer_id, account_id):
        raise errors.AccountNotHeld(
            "the account to debit is not one of the customer's", field="debit_account"
        )


def _actor(caller: Principal) -> str:
    if caller.acting_for:
        return f"channel:{caller.subject} for customer:{caller.customer_id}"
    return f"customer:{caller.subject}"


def _channel(caller: Principal) -> str:
    return f"channel:{caller.subject}"[:32] if caller.acting_for else "api"


def _correlation_id(request: Request) -> str | None:
    """The W3C trace id of `traceparent`, else the client's `X-Request-Id`."""
    traceparent = request.headers.get("traceparent", "")
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    request_id = request.headers.get("X-Request-Id")
    return request_id[:64] if request_id else None


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise errors.ValidationError("If-Match must be an ETag this API returned", field="If-Match")
    return int(tag)


def _representation(
    runtime: Runtime, stored: StoredSchedule, in_flight: list[UUID] | None = None
) -> schemas.ScheduleOut:
    schedule = stored.schedule
    live = schedule.status in (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)
    upcoming = plan.preview(schedule, NEXT_EXECUTIONS, after=runtime.clock.now()) if live else []
    return schemas.ScheduleOut(
        id=schedule.id,
        customer_id=schedule.customer_id,
        status=schedule.status.value,
        version=schedule.version,
        channel=stored.channel,
        created_at=schedule.created_at,
        schedule=stored.definition,
        next_executions=[schemas.PlannedExecutionOut.of(planned) for planned in upcoming],
        in_flight_operations=in_flight or [],
    )


def _changed(runtime: Runtime, result: StatusChanged) -> dict[str, Any]:
    in_flight = [operation.id for operation in result.in_flight]
    return _representation(runtime, result.stored, in_flight).model_dump(mode="json")


def _with_headers(response: JSONResponse) -> JSONResponse:
    """Add ETag (the version) and, for a creation, Location."""
    document = schemas.ScheduleOut.model_validate_json(bytes(response.body))
    response.headers["ETag"] = f'"{document.version}"'
    if response.status_code == 201:
        response.headers["Location"] = f"/v1/schedules/{document.id}"
    return response


def _replay_after_race(runtime: Runtime, idempotent: IdempotentRequest) -> JSONResponse:
    """A concurrent request with the same key committed first: answer as it was."""
    with runtime.unit_of_work() as uow:
        replayed = idempotent.replay(uow, runtime.clock.now())
    if replayed is None:
        raise RuntimeError("the store refused a request without an idempotent twin")
    return _with_headers(replayed)
