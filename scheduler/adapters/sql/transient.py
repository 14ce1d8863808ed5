"""Transient store errors: which errors are worth trying again, and a retry with backoff.

Azure SQL drops connections and refuses work for short spells in normal running (a
reconfiguration, a failover, resource governance); Microsoft's guidance is to retry those
errors after a few seconds. They reach us as SQLAlchemy `DBAPIError`s wrapping a pyodbc
error, whose message carries the server's error number. SQLAlchemy itself flags a
dropped connection (`connection_invalidated`) on every dialect, having discarded it
from the pool, so a retry gets a fresh connection.

Only retry a unit of work that is safe to run again: one that rolled back (a unit of
work rolls back unless committed) or whose effects are idempotent.
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "TRANSIENT_ERROR_NUMBERS",
    "is_misconfigured",
    "is_transient",
    "is_unavailable",
    "retry_transient",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Azure SQL errors that clear by themselves (Microsoft Learn, "Troubleshoot transient
#: connection errors in SQL Database"): 40613 database not currently available, 40197
#: service error processing the request (reconfiguration, failover), 40501 service busy,
#: 49918/49919/49920 not enough resources / too many operations in progress, 4221 login
#: to a read-only secondary timed out waiting for redo, 10928/10929 resource limit reached.
TRANSIENT_ERROR_NUMBERS = frozenset({40613, 40197, 40501, 49918, 49919, 49920, 4221, 10928, 10929})

#: Where pyodbc puts a diagnostic record's native error number (its `GetErrorFromHandle`):
#: the first record is `[SQLSTATE] message (native) (SQLFunction)`, each further one
#: appends `; [SQLSTATE] message (native)`. So a native number is the parenthesised
#: integer closing a record: followed by the function name and the end of the text, by
#: the next record, or by the end. A number in parentheses inside a message is not one.
_NATIVE_ERROR = re.compile(r" \((?P<number>-?\d+)\)(?: \([A-Za-z_]\w*\))?(?=; \[[0-9A-Z]{5}\] |$)")


def is_transient(error: BaseException) -> bool:
    """Whether `error` is a store error that a later attempt may not meet: a SQLAlchemy
    `DBAPIError` that invalidated its connection (dropped, any dialect), or whose pyodbc
    error reports one of `TRANSIENT_ERROR_NUMBERS`. Everything else, including constraint
    violations and SQL errors, is not."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    return any(number in TRANSIENT_ERROR_NUMBERS for number in _native_errors(error.orig))


#: Answers to a connection that no retry changes, because who we are or what we ask for
#: is wrong. PostgreSQL SQLSTATE classes: 28 (invalid authorization: wrong user or
#: password) and 3D (invalid catalog name: no such database).
_MISCONFIGURED_SQLSTATE_CLASSES = frozenset({"28", "3D"})
#: SQL Server's: 18456 login failed, 4060 cannot open the database named in the login.
_MISCONFIGURED_NUMBERS = frozenset({18456, 4060})
#: A refused PostgreSQL connection carries no SQLSTATE in psycopg (libpq reports it as
#: text), so these are the server's FATAL messages for the same refusals (English, the
#: server's default `lc_messages`): no such database or role, a failed password or
#: certificate, no pg_hba.conf entry for us.
_MISCONFIGURED_POSTGRESQL = re.compile(
    r"FATAL: +(?:database \".*\" does not exist|role \".*\" does not exist"
    r"|password authentication failed|.*authentication failed for user"
    r"|no pg_hba\.conf entry)"
)


def is_misconfigured(error: BaseException) -> bool:
    """Whether `error` is the store refusing our configuration: wrong credentials or a
    database that does not exist. Retrying cannot help; a person must fix a setting."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in _MISCONFIGURED_SQLSTATE_CLASSES:
        return True
    if any(_MISCONFIGURED_POSTGRESQL.search(arg) for arg in _texts(error.orig)):
        return True
    return any(number in _MISCONFIGURED_NUMBERS for number in _native_errors(error.orig))


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the store cannot be used just now: a transient error
    (`is_transient`), or a connection refused, lost or turned away while the server
    starts or stops (the driver's OperationalError or InterfaceError), unless the store
    refused our configuration (`is_misconfigured`). A dispatcher waits these out."""
    if is_transient(error):
        return True
    connection_trouble = isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)
    return connection_trouble and not is_misconfigured(error)


def retry_transient(
    call: Callable[[], T],
    *,
    what: str,
    attempts: int = 4,
    first_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`'s result, calling it up to `attempts` times while it fails with a
    transient error (`is_transient`). Before each retry it waits a random time between 0
    and `first_delay * 2**n` seconds, capped at `max_delay` (capped exponential backoff
    with full jitter, so that workers failed by the same outage do not come back in step),
    and logs a warning naming `what` (a short description of the call, for the log).

    A non-transient error is raised at once; the last transient error is raised when the
    attempts are used up."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt == attempts or not is_transient(error):
                raise
            delay = backoff(attempt, first_delay=first_delay, max_delay=max_delay)
            logger.warning(
                "%s failed with a transient store error (attempt %d of %d, %s); retrying in %.2f s",
                what,
                attempt,
                attempts,
                describe(error),
                delay,
                extra={
                    "what": what,
                    "attempt": attempt,
                    "attempts": attempts,
                    "retry_delay_seconds": delay,
                    "store_error": describe(error),
                },
            )
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def backoff(retry: int, *, first_delay: float, max_delay: float) -> float:
    """Seconds to wait before retry number `retry` (from 1): uniformly random between 0
    and `first_delay * 2**(retry - 1)`, capped at `max_delay` ("full jitter")."""
    ceiling = min(max_delay, first_delay * 2 ** (retry - 1))
    return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not a secret


def describe(error: BaseException) -> str:
    """A short, log-safe description of a store error: its class and, when the driver
    gave them, its native error numbers; never the statement or its parameters."""
    if not isinstance(error, sa.exc.DBAPIError):
        return type(error).__name__
    numbers = list(_native_errors(error.orig))
    text = type(error.orig).__name__ if error.orig is not None else type(error).__name__
    if numbers:
        text += " " + ",".join(str(number) for number in numbers)
    if error.connection_invalidated:
        text += " (connection invalidated)"
    return text


def _native_errors(driver_error: BaseException | None) -> Iterator[int]:
    """The native error numbers in a pyodbc error's message (`args` is `(sqlstate,
    message)`); none for other drivers' errors, whose messages are not in that form."""
    for text in _texts(driver_error):
        for match in _NATIVE_ERROR.finditer(text):
            yield int(match["number"])


def _texts(driver_error: BaseException | None) -> Iterator[str]:
    """The text arguments of a driver error: where drivers put their messages."""
    if driver_error is not None:
        yield from (arg for arg in driver_error.args if isinstance(arg, str))
