"""The HTTP API served locally: inside `tsched serve`, uvicorn on a thread beside the
dispatcher loop; with `tsched api`, on its own in one or more processes."""

from __future__ import annotations

import threading
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from scheduler import bootstrap, telemetry
from scheduler.api.app import create_app
from scheduler.config import load_settings

#: Where the development signer keeps its key (the same default as `tsched token`).
DEVELOPMENT_KEYS = Path(".tsched")


class ApiServer:
    """The API of `runtime` served on `host:port` until `stop`."""

    def __init__(self, runtime: bootstrap.Runtime, *, host: str, port: int) -> None:
        verifier = bootstrap.token_verifier(runtime.settings, development_keys=DEVELOPMENT_KEYS)
        config = uvicorn.Config(
            create_app(runtime, verifier), host=host, port=port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        # Off the main thread uvicorn installs no signal handlers: serve's own stop them.
        self._thread = threading.Thread(target=self._server.run, name="tsched-api", daemon=True)

    def start(self) -> None:
        """Start answering; returns once the socket is bound."""
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError("the API server did not start (is the port free?)")
            self._thread.join(0.05)

    def stop(self) -> None:
        """Finish the requests in progress, then stop."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


def app_from_environment() -> FastAPI:
    """The API over a runtime built from the settings of the environment: what each
    `tsched api` worker process serves (uvicorn imports it by name in every worker),
    exporting its metrics and spans as the settings say (`scheduler.telemetry`)."""
    runtime = bootstrap.build(load_settings())
    telemetry.start(runtime)
    verifier = bootstrap.token_verifier(runtime.settings, development_keys=DEVELOPMENT_KEYS)
    return create_app(runtime, verifier)


def serve_api(*, host: str, port: int, workers: int) -> None:
    """Serve the API alone on `host:port` in `workers` processes until interrupted."""
    uvicorn.run(
        f"{__name__}:{app_from_environment.__name__}",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
