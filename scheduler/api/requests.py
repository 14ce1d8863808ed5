"""What routes share about handling a request: the name the audit trail gives its
caller, the correlation id that ties its audit records to the client's trace, the
record a privileged read leaves, and answering a POST once per `Idempotency-Key`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import Request

from scheduler import metrics
from scheduler.api.auth import Principal, Role
from scheduler.api.idempotency import Answer, IdempotentRequest
from scheduler.bootstrap import Runtime
from scheduler.domain import errors, text
from scheduler.ports import UnitOfWork
from scheduler.service.record_read import Reader, record_read

Result = TypeVar("Result")

REQUEST_ID_HEADER = "X-Request-Id"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_INVALID_TRACE_ID = "0" * 32


def actor(caller: Principal) -> str:
    """The caller as the audit trail names them: a customer, a channel (and the
    customer it acts for), or a staff member."""
    if caller.acting_for:
        return f"channel:{caller.subject} for customer:{caller.customer_id}"
    if caller.has(Role.CUSTOMER):
        return f"customer:{caller.subject}"
    if caller.has(Role.CHANNEL):
        return f"channel:{caller.subject}"
    return f"staff:{caller.subject}"


def reader(caller: Principal, request: Request) -> Reader:
    """The caller as a reader of customer data: privileged when staff, or a channel
    acting for a customer (`service.record_read` says what that means)."""
    own_customer = caller.has(Role.CUSTOMER, Role.CHANNEL) and not caller.acting_for
    return Reader(
        actor=actor(caller),
        customer_id=caller.customer_id,
        privileged=not own_customer,
        correlation_id=correlation_id(request),
    )


def audit_read(
    uow: UnitOfWork,
    *,
    caller: Principal,
    request: Request,
    at: datetime,
    action: str,
    subject_type: str,
    customer_id: str | None,
    details: dict[str, Any],
    subject_id: str = "*",
) -> None:
    """Audit a staff member's read in `uow`'s transaction, which the caller commits
    with the read (`service.record_read`)."""
    record_read(
        uow,
        reader=reader(caller, request),
        at=at,
        action=action,
        subject_type=subject_type,
        details=details,
        subject_id=subject_id,
        customer_id=customer_id,
    )


def commit_channel_read(
    uow: UnitOfWork,
    *,
    caller: Principal,
    request: Request,
    at: datetime,
    action: str,
    subject_type: str,
    details: dict[str, Any],
    subject_id: str = "*",
) -> None:
    """Audit this read and commit `uow` (the read's own transaction) if the read is
    privileged (`service.record_read`): a channel's for a customer; a customer's own
    read leaves no record."""
    recorded = record_read(
        uow,
        reader=reader(caller, request),
        at=at,
        action=action,
        subject_type=subject_type,
        details=details,
        subject_id=subject_id,
    )
    if recorded:
        uow.commit()


def correlation_id(request: Request) -> str | None:
    """The W3C trace id of `traceparent`, else the client's `X-Request-Id` (its first 64
    characters). A trace id that is not 32 lower-case hex digits, or all zeros, is
    ignored, as W3C Trace Context says; an `X-Request-Id` holding a character
    `domain.text` refuses is refused (`ForbiddenCharacter`), as it would be stored."""
    parts = request.headers.get("traceparent", "").split("-")
    if len(parts) == 4 and _TRACE_ID.fullmatch(parts[1]) and parts[1] != _INVALID_TRACE_ID:
        return parts[1]
    request_id = request.headers.get(REQUEST_ID_HEADER)
    if not request_id:
        return None
    return text.require_plain(request_id, field=REQUEST_ID_HEADER)[:64]


def answer_once(
    runtime: Runtime,
    idempotent: IdempotentRequest,
    status_code: int,
    run: Callable[[Callable[[UnitOfWork, Result], None]], Result],
    render: Callable[[Result], dict[str, Any]],
) -> Answer:
    """The answer stored for this request, or else run the use case with `run`, keeping
    its rendered answer under the request's key in the use case's own transaction.

    A twin request (same key, same body) that committed between the lookup and the use
    case makes this one fail, on the key or on the state the twin changed (re-driving an
    operation that is no longer failed, say); it is then answered as the twin was. A use
    case that commits nothing is answered without keeping."""
    with runtime.unit_of_work() as uow:
        replayed = idempotent.replay(uow, runtime.clock.now())
    if replayed is not None:
        metrics.record_replay()
        return replayed
    kept: list[Answer] = []

    def keep(uow: UnitOfWork, result: Result) -> None:
        kept.append(Answer(status_code=status_code, body=render(result)))
        idempotent.keep(uow, kept[0], runtime.clock.now())

    try:
        result = run(keep)
    except (sa.exc.IntegrityError, errors.SchedulerError):
        with runtime.unit_of_work() as uow:
            replayed = idempotent.replay(uow, runtime.clock.now())
        if replayed is None:
            raise
        metrics.record_replay()
        return replayed
    return kept[0] if kept else Answer(status_code=status_code, body=render(result))
