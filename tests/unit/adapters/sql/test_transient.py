"""Transient store errors: which are recognised, and how `retry_transient` retries them.

The driver errors are fakes shaped like pyodbc's (`args == (sqlstate, message)`, the
message formatted as pyodbc's `GetErrorFromHandle` does), wrapped in the real SQLAlchemy
exceptions the store raises."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import transient

DRIVER_PREFIX = "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"


class FakePyodbcError(Exception):
    """Stands in for `pyodbc.Error`: `args` is `(sqlstate, message)`."""


def pyodbc_error(sqlstate: str, text: str, native: int, function: str = "SQLExecDirectW") -> str:
    """A message as pyodbc formats its first diagnostic record."""
    return f"[{sqlstate}] {DRIVER_PREFIX}{text} ({native}) ({function})"


def store_error(
    message: str, *, sqlstate: str = "42000", invalidated: bool = False
) -> sa.exc.DBAPIError:
    orig = FakePyodbcError(sqlstate, message)
    return sa.exc.OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)


UNAVAILABLE = store_error(
    pyodbc_error(
        "HY000",
        "Database 'tsched' on server 'tsched-sql' is not currently available. "
        "Please retry the connection later.",
        40613,
        "SQLDriverConnect",
    )
)


@pytest.mark.parametrize("number", sorted(transient.TRANSIENT_ERROR_NUMBERS))
def test_each_azure_sql_transient_error_number_is_transient(number: int) -> None:
    assert transient.is_transient(store_error(pyodbc_error("HY000", "Try again.", number)))


def test_a_connect_failure_with_40613_is_transient() -> None:
    assert transient.is_transient(UNAVAILABLE)


def test_a_transient_number_in_a_later_diagnostic_record_counts() -> None:
    message = (
        pyodbc_error("01000", "Changed database context to 'tsched'.", 5701)
        + f"; [HY000] {DRIVER_PREFIX}Busy. (40501)"
    )
    assert transient.is_transient(store_error(message))


def test_a_transient_number_inside_the_message_text_does_not_count() -> None:
    message = pyodbc_error(
        "23000", "Violation of UNIQUE KEY constraint 'uq (40613)'. Duplicate key.", 2627
    )
    assert not transient.is_transient(store_error(message))


def test_a_constraint_violation_is_not_transient() -> None:
    message = pyodbc_error("23000", "Violation of PRIMARY KEY constraint 'pk_operation'.", 2627)
    assert not transient.is_transient(store_error(message))


def test_a_dropped_connection_is_transient_on_any_dialect() -> None:
    error = sa.exc.OperationalError(
        "SELECT 1",
        {},
        Exception("server closed the connection unexpectedly"),
        connection_invalidated=True,
    )
    assert transient.is_transient(error)


def test_errors_that_are_not_store_errors_are_not_transient() -> None:
    assert not transient.is_transient(ValueError("(40613) (SQLDriverConnect)"))
    assert not transient.is_transient(sa.exc.NoResultFound())


def test_a_call_that_fails_transiently_once_is_run_again_and_its_result_returned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[BaseException | str] = [UNAVAILABLE, "claimed"]
    delays: list[float] = []

    def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    with caplog.at_level(logging.WARNING, logger=transient.__name__):
        result = transient.retry_transient(call, what="claim", sleep=delays.append)

    assert result == "claimed"
    assert len(delays) == 1
    assert 0.0 <= delays[0] <= 0.5
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.__dict__["what"] == "claim"
    assert "40613" in record.getMessage()
    assert "SELECT" not in record.getMessage()


def test_the_last_transient_error_is_raised_when_the_attempts_are_used_up() -> None:
    calls = 0
    delays: list[float] = []

    def call() -> None:
        nonlocal calls
        calls += 1
        raise UNAVAILABLE

    with pytest.raises(sa.exc.OperationalError) as raised:
        transient.retry_transient(call, what="claim", attempts=3, sleep=delays.append)

    assert raised.value is UNAVAILABLE
    assert calls == 3
    assert len(delays) == 2


def test_a_non_transient_error_is_raised_at_once_without_waiting() -> None:
    calls = 0
    delays: list[float] = []
    violation = store_error(pyodbc_error("23000", "Violation of PRIMARY KEY.", 2627))

    def call() -> None:
        nonlocal calls
        calls += 1
        raise violation

    with pytest.raises(sa.exc.OperationalError):
        transient.retry_transient(call, what="execute", sleep=delays.append)

    assert calls == 1
    assert delays == []


def test_delays_grow_exponentially_from_first_delay_and_stay_under_the_cap() -> None:
    delays: list[float] = []

    def call() -> None:
        raise UNAVAILABLE

    with pytest.raises(sa.exc.OperationalError):
        transient.retry_transient(
            call, what="publish", attempts=8, first_delay=0.5, max_delay=2.0, sleep=delays.append
        )

    ceilings = [0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert len(delays) == len(ceilings)
    assert all(0.0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))


def test_backoff_jitter_spreads_over_the_whole_interval() -> None:
    delays = [transient.backoff(3, first_delay=0.5, max_delay=8.0) for _ in range(2_000)]

    assert max(delays) <= 2.0
    assert min(delays) < 0.2
    assert max(delays) > 1.8


def test_fewer_than_one_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempts"):
        transient.retry_transient(lambda: None, what="nothing", attempts=0)


class FakePsycopgError(Exception):
    """Stands in for `psycopg.OperationalError`: a message, and `sqlstate` (None for a
    refused connection, whose reasons libpq gives as text only)."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def postgresql_error(message: str, sqlstate: str | None = None) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, FakePsycopgError(message, sqlstate))


REFUSED = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: '


@pytest.mark.parametrize(
    "error",
    [
        postgresql_error(REFUSED + "Connection refused"),
        postgresql_error(REFUSED + "FATAL:  the database system is starting up", "57P03"),
        postgresql_error("terminating connection due to administrator command", "57P01"),
        sa.exc.InterfaceError("SELECT 1", {}, FakePsycopgError("the connection is closed")),
        UNAVAILABLE,
    ],
    ids=["refused", "starting up", "shut down", "closed", "azure 40613"],
)
def test_a_store_out_of_reach_or_restarting_is_unavailable(error: sa.exc.DBAPIError) -> None:
    assert transient.is_unavailable(error)
    assert not transient.is_misconfigured(error)


@pytest.mark.parametrize(
    "error",
    [
        postgresql_error(REFUSED + 'FATAL:  database "tschd" does not exist'),
        postgresql_error(REFUSED + 'FATAL:  password authentication failed for user "app"'),
        postgresql_error(REFUSED + 'FATAL:  role "nobody" does not exist'),
        postgresql_error(REFUSED + 'FATAL:  no pg_hba.conf entry for host "10.0.0.1"'),
        postgresql_error("permission denied", "28000"),
        store_error(
            pyodbc_error("28000", "Login failed for user '<token-identified principal>'.", 18456)
        ),
        store_error(pyodbc_error("42000", 'Cannot open database "tsched".', 4060)),
    ],
    ids=["no database", "password", "no role", "pg_hba", "sqlstate 28", "azure login", "azure db"],
)
def test_a_store_refusing_our_settings_is_misconfigured_not_unavailable(
    error: sa.exc.DBAPIError,
) -> None:
    assert transient.is_misconfigured(error)
    assert not transient.is_unavailable(error)


def test_a_sql_error_is_neither_unavailable_nor_misconfigured() -> None:
    error = sa.exc.ProgrammingError("SELECT nope", {}, FakePsycopgError("syntax error", "42601"))

    assert not transient.is_unavailable(error)
    assert not transient.is_misconfigured(error)
