"""Requests the store failed transiently are answered again, not with a 500.

Azure SQL drops connections and refuses work for short spells in normal running
(`adapters.sql.transient`). `RetryingRoute`, the route class of every router, runs a
request's endpoint again when it fails with such an error, a few times with short
jittered waits, so that the whole request stays well under two seconds; if the store
still fails, it answers 503 `store_unavailable` (problem+json) with `Retry-After`.

Running an endpoint again is safe: its unit of work rolled back unless it committed,
and a POST's `Idempotency-Key` is stored with its effects in the same transaction, so
one whose commit reached the store before the error is answered from the stored
response. (A privileged read whose commit was lost that way may be audited twice.) A
streamed body (the history exports) is not covered: once the response has started, it
cannot be answered again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from scheduler.adapters.sql import transient
from scheduler.api import problems

logger = logging.getLogger(__name__)

#: The problem code of a request the store failed every time it was tried.
STORE_UNAVAILABLE = "store_unavailable"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreRetry:
    """How a request is retried: `attempts` runs in all, waiting a random time up to
    `first_delay * 2**n` seconds (at most `max_delay`) before each further run, with
    `sleep`; `retry_after` is the seconds the 503 tells the client to wait. Defaults:
    three runs and at most 0.1 + 0.2 s of waiting. An app may set its own as
    `app.state.store_retry` (tests do, to wait without sleeping)."""

    attempts: int = 3
    first_delay: float = 0.1
    max_delay: float = 0.5
    retry_after: int = 1
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


DEFAULT = StoreRetry()


class RetryingRoute(APIRoute):
    """An `APIRoute` whose endpoint runs again on a transient store error, and whose
    request is answered 503 `store_unavailable` when the store keeps failing. Installed
    with `APIRouter(route_class=RetryingRoute)` (FastAPI's "custom APIRoute class")."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler of this route, run again on a transient store error."""
        handler = super().get_route_handler()

        async def retrying(request: Request) -> Response:
            retry: StoreRetry = getattr(request.app.state, "store_retry", DEFAULT)
            for attempt in range(1, retry.attempts + 1):
                try:
                    return await handler(request)
                except Exception as error:
                    if not transient.is_transient(error):
                        raise
                    if attempt == retry.attempts:
                        return _unavailable(request, error, retry)
                    delay = transient.backoff(
                        attempt, first_delay=retry.first_delay, max_delay=retry.max_delay
                    )
                    _log_retry(request, error, attempt, retry.attempts, delay)
                    await retry.sleep(delay)
            raise AssertionError("unreachable: the last attempt returns or raises")

        return retrying


def _log_retry(
    request: Request, error: BaseException, attempt: int, attempts: int, delay: float
) -> None:
    logger.warning(
        "%s %s failed with a transient store error (attempt %d of %d, %s); retrying in %.2f s",
        request.method,
        request.url.path,
        attempt,
        attempts,
        transient.describe(error),
        delay,
        extra={
            "http_method": request.method,
            "http_path": request.url.path,
            "attempt": attempt,
            "attempts": attempts,
            "retry_delay_seconds": delay,
            "store_error": transient.describe(error),
        },
    )


def _unavailable(request: Request, error: BaseException, retry: StoreRetry) -> Response:
    logger.warning(
        "%s %s: the store failed transiently %d times; answering 503",
        request.method,
        request.url.path,
        retry.attempts,
        extra={
            "http_method": request.method,
            "http_path": request.url.path,
            "attempts": retry.attempts,
            "store_error": transient.describe(error),
        },
    )
    response = problems.problem(
        503,
        STORE_UNAVAILABLE,
        "The store does not answer.",
        "The store failed for a moment. Try again shortly: a POST sent again with the "
        "same Idempotency-Key takes effect once.",
        extra={"code": STORE_UNAVAILABLE, "retry": True},
    )
    response.headers["Retry-After"] = str(retry.retry_after)
    return response
