"""Operations staff: the figures (`GET /v1/ops/status`) and the page that shows them
live (`GET /ops`).

The page and its assets are static and public, like a login page: they hold no data.
The page asks for a bearer token, keeps it in the browser tab's session storage, and
reads the figures and re-drives operations through the API with it, so the roles are
checked where they always are. Its Content-Security-Policy allows scripts, styles and
requests from this origin only.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, HTTPException, Response

from scheduler.api import staff, store_retry
from scheduler.api.ops_schemas import OpsStatusOut
from scheduler.api.schedule_routes import RuntimeDep
from scheduler.service.operations_status import operations_status

routes = APIRouter(tags=["operations"], route_class=store_retry.RetryingRoute)

#: The page's files, by the path they are served under /ops/, and their media types.
ASSETS = {
    "ops.js": "text/javascript; charset=utf-8",
    "ops.css": "text/css; charset=utf-8",
    "vendor/uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "vendor/uPlot.min.css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@routes.get("/v1/ops/status", response_model=OpsStatusOut)
def status(_caller: staff.OperationsStaff, runtime: RuntimeDep) -> OpsStatusOut:
    """How the platform is doing now: payments due in the next hour and day, the
    dispatch lag, the last hour's outcomes and lateness per minute, failed and dead
    operations with the latest of them, the outbox and the relay, audit sealing."""
    figures = operations_status(
        uow=runtime.unit_of_work(),
        clock=runtime.clock,
        relay_enabled=runtime.settings.kafka_bootstrap_servers is not None,
    )
    return OpsStatusOut.of(figures)


@routes.get("/ops", include_in_schema=False)
def page() -> Response:
    """The operations page."""
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=_HEADERS)


@routes.get("/ops/{name:path}", include_in_schema=False)
def asset(name: str) -> Response:
    """One of the page's scripts or style sheets; any other name is a 404."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="no such file")
    return Response(_read(name), media_type=media_type, headers=_HEADERS)


@functools.cache
def _read(name: str) -> bytes:
    return resources.files("scheduler.api").joinpath("ops_page", name).read_bytes()
