"""Each request's correlation id in the logs: a pure ASGI middleware that sets
`logs.correlation_id` for the request's life, from the W3C `traceparent` or the
client's `X-Request-Id`, as the audit trail takes it (`requests.correlation_id`). A
value the audit trail would refuse is left out of the logs too."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from scheduler import logs
from scheduler.api import requests
from scheduler.domain import errors


class LogContext:
    """Wraps an ASGI `app`, giving each HTTP request's logs its correlation id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            current = requests.correlation_id(Request(scope))
        except errors.ForbiddenCharacter:
            current = None
        token = logs.correlation_id.set(current)
        try:
            await self.app(scope, receive, send)
        finally:
            logs.correlation_id.reset(token)
