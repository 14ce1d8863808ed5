"""Health probes: `GET /api/health/live` answers while the worker can run Python."""

from __future__ import annotations

import json

import azure.functions as func

_LIVE_BODY = json.dumps({"status": "ok"})


def register(blueprint: func.Blueprint) -> None:
    """Add the probes to `blueprint`; they are anonymous so platform probes need no key."""
    blueprint.route(
        route="health/live",
        methods=[func.HttpMethod.GET],
        auth_level=func.AuthLevel.ANONYMOUS,
    )(liveness)


def liveness(req: func.HttpRequest) -> func.HttpResponse:
    """Answer 200 `{"status": "ok"}`, touching no dependency.

    Liveness only: a failing database must not get the instance recycled, so readiness,
    which checks dependencies, is a separate probe.
    """
    return func.HttpResponse(
        _LIVE_BODY,
        status_code=200,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )
