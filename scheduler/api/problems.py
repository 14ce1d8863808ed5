"""Errors as RFC 9457 problem details (`application/problem+json`).

Every error a client can cause has a stable `type` (`urn:tsched:problem:<code>`, the
domain error's code), an HTTP status, a human `title` and `detail`, and for invalid
input an `errors` list naming each field. A malformed document's problem never quotes
what was sent (pydantic's messages only, not its `input`): a problem may end up in
logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from scheduler.api import auth
from scheduler.domain import errors

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tsched:problem:"

#: Status of each domain error; a subclass takes its nearest listed ancestor's.
_STATUS: dict[type[errors.SchedulerError], int] = {
    auth.Unauthenticated: 401,
    auth.Forbidden: 403,
    auth.KeySourceUnavailable: 503,
    errors.ValidationError: 422,
    errors.CurrencyMismatch: 422,
    errors.UnknownSchedule: 404,
    errors.StaleVersion: 412,
    errors.ScheduleNotChangeable: 409,
    errors.IllegalTransition: 409,
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable"}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def status_of(error: errors.SchedulerError) -> int:
    """The HTTP status a domain error maps to (400 when none is listed)."""
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def install(app: FastAPI) -> None:
    """Make every error `app` raises a problem document."""

    @app.exception_handler(errors.SchedulerError)
    async def domain_error(_request: Request, error: errors.SchedulerError) -> JSONResponse:
        extra: dict[str, Any] = {"code": error.code}
        field = getattr(error, "field", None)
        if field:
            extra["errors"] = [{"field": field, "message": error.message}]
        title = (type(error).__doc__ or error.code).strip().splitlines()[0]
        response = problem(status_of(error), error.code, title, error.message, extra=extra)
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": _field_path(item["loc"]), "message": item["msg"]} for item in error.errors()
        ]
        return problem(
            422,
            "invalid_request",
            "The request is not valid.",
            f"{len(fields)} field(s) are invalid",
            extra={"code": "invalid_request", "errors": fields},
        )

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
        return problem(error.status_code, code, str(error.detail), extra={"code": code})


def _field_path(location: Sequence[Any]) -> str:
    """`body.amount.value` as `amount.value`: the field as the client wrote it."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)
