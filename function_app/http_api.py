"""The HTTP API as one Azure Function: every request the app receives goes to
`scheduler.api` through the ASGI middleware (DESIGN.md, "HTTP hosting").

The route is a catch-all, `{*route}`, and `host.json` sets `extensions.http.routePrefix`
to "": the middleware hands FastAPI the request URL's whole path (`AsgiRequest` in
azure-functions' `_http_asgi.py`: `path` is `urlparse(req.url).path`, `root_path` is
empty), so with the default prefix every route would arrive as `/api/v1/...` and miss.
The host's own routes (`/admin/...`, Durable's `/runtime/webhooks/...`) are not the
API's; that they win over the catch-all only a real host shows.

The function is anonymous to the host: every route of the API but the health probes
checks a bearer JWT itself (Entra ID in Azure), and the probes must answer without a
key. Nothing is built at import; the FastAPI app and its middleware are built from the
process's runtime on the first request, and a build that fails (a bad setting) fails
that request and is tried again on the next.
"""

from __future__ import annotations

import functools
from pathlib import Path

import azure.functions as func

from scheduler import bootstrap
from scheduler.api import app as api_app

#: The methods the API's routes answer; a test checks the app uses no other. A method
#: not listed never reaches the app: the host answers 404 for it.
METHODS = (func.HttpMethod.GET, func.HttpMethod.POST, func.HttpMethod.PATCH)

#: Most attempts one history download answered in the response holds here, against
#: 1,000,000 under uvicorn. The middleware keeps every chunk of a response until the
#: app is done, then joins them, and the worker copies the body again to hand it to the
#: host: a 10,000-row download is about 2.2 MiB as CSV and 0.6 MiB as PDF (`python -m
#: bench.export_memory --rows 10000`), so a handful of copies of it at each of many
#: concurrent requests stays far inside a 2,048 MB instance, and it is ready in under
#: 2 s (PDF). At 1,000,000 rows one CSV is about 220 MiB a copy, and the PDF takes
#: about 150 s to make, near the 230 s within which an HTTP function must answer.
#:
#: So a larger download goes through Blob storage: with `BLOB_ACCOUNT_URL` set, one of
#: more attempts than `EXPORT_LINK_THRESHOLD_ROWS` (at most this cap) is written there
#: block by block as it is made, and answered with a link that expires
#: (`scheduler.api.exports.delivery`); up to 1,000,000 attempts then. Without it,
#: a download past this cap is refused (422 `export_too_large`).
MAX_EXPORT_ROWS = 10_000

#: Where the development signer keeps its key when no identity provider is configured
#: (local `func start`), the same folder as `tsched token` and `tsched serve`.
DEVELOPMENT_KEYS = Path(".tsched")


def register(blueprint: func.Blueprint) -> None:
    """Add the catch-all HTTP function, `http_api`, to `blueprint`."""
    blueprint.route(
        route="{*route}",
        methods=METHODS,
        auth_level=func.AuthLevel.ANONYMOUS,
    )(http_api)


async def http_api(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Answer `req` with the API, as uvicorn would answer it, but whole: the middleware
    buffers the response body, so a download is sent once it is complete (and a large
    one is answered with a link instead, `MAX_EXPORT_ROWS`)."""
    response: func.HttpResponse = await middleware().handle_async(req, context)
    return response


@functools.cache
def middleware() -> func.AsgiMiddleware:
    """The API over `bootstrap.process_runtime()`, wrapped for Functions, built on first
    use and kept for the process's life (an exception is not kept: the next call tries
    again)."""
    runtime = bootstrap.process_runtime()
    verifier = bootstrap.token_verifier(runtime.settings, development_keys=DEVELOPMENT_KEYS)
    app = api_app.create_app(runtime, verifier, max_export_rows=MAX_EXPORT_ROWS)
    return func.AsgiMiddleware(app)
