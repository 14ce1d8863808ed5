"""A real uvicorn serving an app on a loopback socket in a thread, for tests that talk
to it over HTTP (a raw socket, httpx, or a browser)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

#: Seconds the server may take to stop.
STOP_DEADLINE = 10.0


@contextmanager
def serving(app: FastAPI) -> Iterator[tuple[str, int]]:
    """Serve `app`; yields the (host, port) it listens on. The socket listens before the
    server starts, so a client may connect at once: the connection waits in the backlog
    until accepted."""
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on
    # sockets that say they are TCP, and with it on, each answer waited 40 ms for a
    # delayed ACK between its headers and its body.
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]})
    thread.start()
    try:
        yield listening.getsockname()
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_DEADLINE)
        listening.close()
