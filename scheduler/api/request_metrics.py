"""Each API request's time, route template, method and status, recorded as
`tsched.api.request.duration` (`scheduler.metrics`) when its response ends.

A pure ASGI middleware, so a streamed download is timed to its last byte and not
buffered. The route is the template the router matched (`/v1/schedules/{schedule_id}`),
never the URL, so ids do not become attributes; a request no route matched is
`unmatched`.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler import metrics

UNMATCHED = "unmatched"


class RequestMetrics:
    """Wraps an ASGI `app`, recording each HTTP request it answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                route = getattr(scope.get("route"), "path", UNMATCHED)
                metrics.record_request(
                    route, scope["method"], status, time.perf_counter() - started
                )

        await self.app(scope, receive, send_and_record)
