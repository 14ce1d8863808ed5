"""The most bytes a request body may hold, enforced before anything parses it.

A pure ASGI middleware, so it holds wherever the app is served: under uvicorn, and in
Azure Functions behind `func.AsgiMiddleware` (which hands the app the whole body in one
message, usually without a `Content-Length`). A body over the limit is answered 413
(`content_too_large`) as a problem document, and the app never sees the request:

- a `Content-Length` over the limit is refused at once, without reading the body (a
  client that sent `Expect: 100-continue` is not even asked for it);
- any other body (chunked, or of a length not declared) is read here, message by
  message, and refused as soon as the bytes received pass the limit. Nothing past the
  limit is kept: at most `max_bytes` are held, then handed to the app as one message.

A refusal closes the connection (`Connection: close`): the rest of the body is never
read, so the connection cannot carry another request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler.api import problems

CODE = "content_too_large"


class BodyLimit:
    """Wraps an ASGI `app`: HTTP requests whose body passes `max_bytes` get a 413
    problem and never reach it; every other scope goes through untouched."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away before the body was whole: nobody to answer.
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem(
            413,
            CODE,
            "The request body is too large.",
            f"a request body may hold at most {self.max_bytes} bytes",
            extra={"code": CODE, "max_bytes": self.max_bytes},
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared `Content-Length`, or None when there is none or it is not a
    number (the server refuses such a request before it reaches the app)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the whole `body` first, then whatever `receive` gives (a
    disconnect, which a streaming response listens for)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
