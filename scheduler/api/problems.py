"""Errors as RFC 9457 problem details (`application/problem+json`).

Every error a client can cause has a stable `type` (`urn:tsched:problem:<code>`, the
domain error's code), an HTTP status, a human `title` and `detail`, and for invalid
input an `errors` list naming each field. A malformed document's problem never quotes
what was sent (pydantic's messages only, not its `input`): a problem may end up in
logs.

The OpenAPI document says so too: every operation lists the problems it can answer,
as `application/problem+json` with the `Problem` schema, in place of FastAPI's default
422 (`HTTPValidationError`), which is not what this API sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.exceptions import HTTPException

from scheduler import ports
from scheduler.api import auth
from scheduler.domain import errors

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tsched:problem:"

#: Status of each domain error; a subclass takes its nearest listed ancestor's.
_STATUS: dict[type[errors.SchedulerError], int] = {
    errors.PreconditionRequired: 428,
    auth.Unauthenticated: 401,
    auth.Forbidden: 403,
    auth.KeySourceUnavailable: 503,
    ports.AccountDirectoryUnavailable: 503,
    errors.ValidationError: 422,
    errors.CurrencyMismatch: 422,
    errors.UnknownSchedule: 404,
    errors.UnknownOperation: 404,
    errors.StaleVersion: 412,
    errors.ScheduleNotChangeable: 409,
    errors.IllegalTransition: 409,
}
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "content_too_large",
}

#: Domain rules that request parsing checks too (`schemas.PLAIN`); a pydantic error of
#: one's code is that rule's, so the problem has the same code as the domain error.
_PARSED_RULES: dict[str, type[errors.SchedulerError]] = {
    errors.ForbiddenCharacter.code: errors.ForbiddenCharacter,
}

#: What the OpenAPI document says each problem status means, unless the route says.
_MEANINGS = {
    400: "The body could not be read (it is not UTF-8 text).",
    401: "No valid bearer token was sent.",
    403: "The caller's roles or customer do not allow this.",
    404: "Nothing with this id is visible to the caller.",
    409: "The resource's state does not allow this now.",
    412: "The resource changed since the ETag sent as If-Match.",
    413: "The body is larger than the API accepts (`max_bytes` says how large it may be); "
    "it was not read.",
    422: "The request is not valid (`errors` names the fields at fault).",
    428: "The change needs the resource's ETag as If-Match.",
    503: "Something this request needs (the token keys, the bank's account records) "
    "cannot be reached; try again shortly.",
}
#: How callers prove who they are (`auth`): an Entra ID (or development) bearer JWT.
_BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
#: The `openapi_extra` of a route that needs no caller: every other one needs a bearer
#: token, so a route added later is documented as needing one unless it says otherwise.
PUBLIC: dict[str, Any] = {"security": []}


class FieldError(BaseModel):
    """One invalid field of a request, as the client wrote it (`amount.value`)."""

    field: str
    message: str


def _absent_not_null(schema: dict[str, Any]) -> None:
    """An optional member is left out, never sent as null: its schema has no null
    default (`SkipJsonSchema` already keeps null out of its type)."""
    for member in schema["properties"].values():
        member.pop("default", None)


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error of this API is sent. Members
    beyond these may appear (RFC 9457 extension members, such as `retry`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_absent_not_null)

    type: str = Field(description="`urn:tsched:problem:<code>`")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | SkipJsonSchema[None] = None
    code: str | SkipJsonSchema[None] = Field(
        default=None, description="The problem's code, as in `type`"
    )
    errors: list[FieldError] | SkipJsonSchema[None] = None


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response, its body built by `Problem` so that what is sent is what
    the OpenAPI document describes."""
    return _respond(document(status, code, title, detail, extra=extra))


def document(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A problem document as JSON, built by `Problem`."""
    body = Problem(
        type=TYPE_PREFIX + code, title=title, status=status, detail=detail or None, **(extra or {})
    )
    return body.model_dump(mode="json", exclude_none=True)


def of_error(error: errors.SchedulerError) -> dict[str, Any]:
    """The problem document of a domain error, naming its field when it has one."""
    extra: dict[str, Any] = {"code": error.code}
    field = getattr(error, "field", None)
    if field:
        extra["errors"] = [{"field": field, "message": error.message}]
    return document(status_of(error), error.code, _title(type(error)), error.message, extra=extra)


def of_invalid(items: Sequence[Any]) -> dict[str, Any]:
    """The 422 problem document of pydantic's validation errors `items` (each a dict
    with `loc`, `msg` and `type`), naming every field at fault but not what was sent."""
    fields = [{"field": _field_path(item["loc"]), "message": item["msg"]} for item in items]
    rule = _domain_rule({item["type"] for item in items})
    code = rule.code if rule is not None else "invalid_request"
    title = _title(rule) if rule is not None else "The request is not valid."
    return document(
        422,
        code,
        title,
        f"{len(fields)} field(s) are invalid",
        extra={"code": code, "errors": fields},
    )


def _respond(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=MEDIA_TYPE)


def status_of(error: errors.SchedulerError) -> int:
    """The HTTP status a domain error maps to (400 when none is listed)."""
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def install(app: FastAPI) -> None:
    """Make every error `app` raises a problem document, and its OpenAPI document say
    which problems each operation can answer (routes included later too: the document
    is described when it is asked for)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        _describe(document)
        return document

    # FastAPI's documented way to extend the OpenAPI document ("Extending OpenAPI").
    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(errors.SchedulerError)
    async def domain_error(_request: Request, error: errors.SchedulerError) -> JSONResponse:
        response = _respond(of_error(error))
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return _respond(of_invalid(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
        return problem(error.status_code, code, str(error.detail), extra={"code": code})


def _title(error: type[errors.SchedulerError]) -> str:
    """A domain error's problem title: the first line of its docstring."""
    return (error.__doc__ or error.code).strip().splitlines()[0]


def _domain_rule(types: set[str]) -> type[errors.SchedulerError] | None:
    """The domain rule every field at fault broke, when they all broke the same one."""
    if len(types) != 1:
        return None
    return _PARSED_RULES.get(next(iter(types)))


def _describe(document: dict[str, Any]) -> None:
    """Declare in FastAPI's OpenAPI `document` what every operation can answer besides
    success: that it needs a bearer token (unless it says `security: []`, as public
    routes do), the problems it can answer (`_problem_statuses`), and every error
    response as a `Problem`.

    Idempotent, as FastAPI hands back the same document until the routes change."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = _BEARER_SCHEME
    document.setdefault("security", [{"bearer": []}])
    schemas = components.setdefault("schemas", {})
    # Only FastAPI's default 422 refers to these; it is replaced below.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs"), Problem=problem_schema)
    problem_content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation["responses"]
            if _is_fastapi_default(responses.get("422")):
                del responses["422"]
            needs_caller = bool(operation.get("security", document["security"]))
            for status in _problem_statuses(operation, needs_caller=needs_caller):
                responses.setdefault(str(status), {"description": _MEANINGS[status]})
            for declared, response in responses.items():
                if declared.isdigit() and int(declared) >= HTTPStatus.BAD_REQUEST:
                    response["content"] = problem_content
            if "401" in responses:
                responses["401"]["headers"] = {
                    "WWW-Authenticate": {
                        "description": "The bearer challenge (RFC 6750).",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                }
            operation["responses"] = dict(sorted(responses.items()))


def _problem_statuses(operation: dict[str, Any], *, needs_caller: bool) -> set[int]:
    """What an operation can answer besides success: 401/403/503 when it needs a caller,
    422 when it takes any input, 400 and 413 when that includes a body (FastAPI's answer
    to one it cannot decode; `body_limit`'s to one too large), 404 when its path names
    something, and 409/412/428 when it takes `If-Match` (409 also with an
    `Idempotency-Key`: a change of state)."""
    parameters: list[dict[str, Any]] = operation.get("parameters", [])
    headers = {parameter["name"].lower() for parameter in parameters if parameter["in"] == "header"}
    statuses: set[int] = set()
    if needs_caller:
        statuses |= {401, 403, 503}
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413}
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    if "if-match" in headers:
        statuses |= {409, 412, 428}
    if "idempotency-key" in headers:
        statuses.add(409)
    return statuses


def _is_fastapi_default(response: dict[str, Any] | None) -> bool:
    """Whether `response` is the 422 FastAPI declares for any route with input."""
    schema: object = (response or {}).get("content", {}).get("application/json", {}).get("schema")
    return schema == {"$ref": "#/components/schemas/HTTPValidationError"}


def _field_path(location: Sequence[Any]) -> str:
    """`body.amount.value` as `amount.value`: the field as the client wrote it."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)
