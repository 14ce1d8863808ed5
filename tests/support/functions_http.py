"""Calling the indexed `http_api` function as the Python worker does: a real
`func.HttpRequest` and context, through the ASGI middleware, one invocation a call."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import azure.functions as func

from tests.support import entry_script

HOST = "http://localhost:7071"
Handler = Callable[[func.HttpRequest, func.Context], Coroutine[Any, Any, func.HttpResponse]]


class InvocationContext(func.Context):
    """What the worker passes as `context`; the middleware copies it into the scope."""

    def __init__(self) -> None:
        self._invocation_id = str(uuid.uuid4())

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return threading.local()

    @property
    def function_name(self) -> str:
        return "http_api"

    @property
    def function_directory(self) -> str:
        return str(Path.cwd())

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


def http_api() -> Handler:
    """The `http_api` function of a fresh index of `main.py`."""
    handler: Handler = entry_script.indexed_functions()["http_api"].get_user_function()
    return handler


def get(
    handler: Handler, path: str, *, token: str, params: Mapping[str, str] | None = None
) -> func.HttpResponse:
    """GET `path?params` with `token` as the bearer, answered whole."""
    query = f"?{urlencode(params)}" if params else ""
    request = func.HttpRequest(
        method="GET",
        url=f"{HOST}{path}{query}",
        headers={"Authorization": f"Bearer {token}"},
        params=dict(params or {}),
        route_params={"route": path.lstrip("/")},
        body=b"",
    )
    return asyncio.run(handler(request, InvocationContext()))
