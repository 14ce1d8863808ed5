"""The HTTP API for channels, as one FastAPI application over a `Runtime`.

`create_app(runtime)` builds it; locally uvicorn serves it, in Azure one Functions HTTP
function hands every request to it (DESIGN.md, "HTTP hosting"). Every error is an RFC
9457 problem document (`problems`).
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider

from scheduler import ports
from scheduler.api import (
    audit_routes,
    auth,
    body_limit,
    history_routes,
    log_context,
    operations_routes,
    ops_routes,
    problems,
    request_metrics,
    schedule_routes,
    schemas,
    store_retry,
)
from scheduler.bootstrap import Runtime
from scheduler.domain import plan, text

API_VERSION = "v1"
#: Readiness counts the events waiting in the outbox up to this many (an index scan).
READINESS_BACKLOG_COUNT = 10_000


def create_app(
    runtime: Runtime,
    verifier: auth.TokenVerifier | None = None,
    *,
    max_export_rows: int | None = None,
) -> FastAPI:
    """The API over `runtime`'s store and clock, callers proved by `verifier` (without
    one, every route that needs a caller answers 503). A request body over the
    runtime's `api_max_body_bytes` is answered 413 unread (`body_limit`).

    `max_export_rows` caps one history download (`history_routes.MAX_EXPORT_ROWS`,
    1,000,000, when None): a host that holds a whole response in memory, as Azure
    Functions does, passes a lower one."""
    if max_export_rows is not None and max_export_rows < 1:
        raise ValueError(f"max_export_rows must be at least 1, not {max_export_rows}")
    app = FastAPI(
        title="tsched",
        version="1",
        summary="Scheduled money movements: one-time transfers, recurring payments, reminders",
        openapi_url=f"/{API_VERSION}/openapi.json",
        docs_url=f"/{API_VERSION}/docs",
        redoc_url=None,
    )
    # The app's own routes, as every router's, run again on a transient store error.
    app.router.route_class = store_retry.RetryingRoute
    problems.install(app)
    # Outermost but for Starlette's error handler: a body over the limit is refused
    # before any route, dependency or parser sees it.
    app.add_middleware(body_limit.BodyLimit, max_bytes=runtime.settings.api_max_body_bytes)
    # Outside the body limit: a refused request is timed and counted too.
    app.add_middleware(request_metrics.RequestMetrics)
    # Outermost: whatever logs during a request carries its correlation id.
    app.add_middleware(log_context.LogContext)
    _trace_requests(app)
    app.state.runtime = runtime
    app.state.max_export_rows = max_export_rows
    app.state.authenticate = functools.partial(_authenticate, verifier)
    app.include_router(schedule_routes.routes)
    app.include_router(history_routes.routes)
    app.include_router(operations_routes.routes)
    app.include_router(audit_routes.routes)
    app.include_router(ops_routes.routes)

    @app.get(f"/{API_VERSION}/health/live", tags=["health"], openapi_extra=problems.PUBLIC)
    def liveness() -> dict[str, str]:
        """200 while the process can answer; touches no dependency."""
        return {"status": "ok"}

    @app.get(
        f"/{API_VERSION}/health/ready",
        tags=["health"],
        responses={503: {"description": "The store does not answer."}},
        openapi_extra=problems.PUBLIC,
    )
    def readiness() -> JSONResponse:
        """200 when the store answers, else a 503 problem. The answer also says how the
        events fare: the outbox's backlog and, where this process relays them, whether
        the Kafka brokers answer. A broker outage delays notifications, not payments,
        so it does not make the API unready."""
        try:
            with runtime.unit_of_work() as uow:
                backlog = uow.outbox.backlog(READINESS_BACKLOG_COUNT)
        except sa.exc.SQLAlchemyError:
            return problems.problem(
                503, "store_unavailable", "The store does not answer.", extra={"retry": True}
            )
        return JSONResponse({"status": "ready", "store": "ok", "events": _events(runtime, backlog)})

    @app.post(f"/{API_VERSION}/schedules/preview", tags=["schedules"])
    def preview(
        document: schemas.ScheduleIn,
        _caller: schedule_routes.Caller,
        count: Annotated[int, Query(ge=1, le=plan.MAX_PREVIEW)] = 6,
    ) -> list[schemas.PlannedExecutionOut]:
        """The next `count` executions (with their reminders) of a proposed schedule,
        after now; nothing is stored, so no Idempotency-Key is needed. Any caller with a
        valid token may ask."""
        now = runtime.clock.now()
        schedule = document.to_schedule(
            schedule_id=uuid.uuid4(), customer_id="preview", created_at=now
        )
        return [
            schemas.PlannedExecutionOut.of(planned)
            for planned in plan.preview(schedule, count, after=now)
        ]

    return app


def _events(runtime: Runtime, backlog: ports.OutboxBacklog) -> dict[str, object]:
    publisher = runtime.publisher
    relay: dict[str, object] = {"kafka": "off" if publisher is None else "not relaying here"}
    if isinstance(publisher, ports.ReportsBrokerStatus):
        status = publisher.status()
        if status.reachable is not None:
            relay["kafka"] = "reachable" if status.reachable else "unreachable"
            relay["since"] = None if status.since is None else status.since.isoformat()
    waiting = backlog.oldest_at
    return {
        **relay,
        "unpublished": backlog.unpublished,
        "unpublished_counted_up_to": backlog.counted_up_to,
        "oldest_unpublished_seconds": (
            None if waiting is None else max(0.0, (runtime.clock.now() - waiting).total_seconds())
        ),
    }


def _authenticate(verifier: auth.TokenVerifier | None, request: Request) -> auth.Principal:
    """The caller, proved by `verifier`. The customer a channel names in `X-Customer-Id`
    is stored with what it does, so it is plain text (`domain.text`) or refused (422)."""
    if verifier is None:
        raise auth.KeySourceUnavailable("no token verifier is configured", reason="config")
    customer = request.headers.get(auth.CUSTOMER_HEADER)
    principal = verifier.authenticate(request.headers.get("Authorization"), customer)
    if customer is not None:
        text.require_plain(customer, field=auth.CUSTOMER_HEADER)
    return principal


def _trace_requests(app: FastAPI) -> None:
    """Start a server span for each request, continuing the caller's `traceparent`
    header when it sends one (`scheduler.tracing`). Only the request's span: none for
    each ASGI message (a download is thousands), and no metrics, which
    `request_metrics` records under the platform's names."""
    FastAPIInstrumentor.instrument_app(
        app, meter_provider=NoOpMeterProvider(), exclude_spans=["receive", "send"]
    )
