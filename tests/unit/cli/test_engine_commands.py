"""`tsched migrate` and `tsched serve`, run in-process against a SQLite file named by
DATABASE_URL. `serve --start` runs on an accelerated clock whose monotonic source the
tests freeze, so the simulated time a pass sees is exact."""

from __future__ import annotations

import re
import signal
import types
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler import bootstrap, cli, clocks, runner
from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import migrate, tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.cli.engine import describe_cycle, describe_round
from scheduler.config import Settings
from scheduler.domain.money import Money
from scheduler.domain.operation import OperationStatus
from scheduler.ports import Clock
from scheduler.service.publish_outbox import PublishResult
from tests.support import schedules
from tests.support.cli import run
from tests.support.clock import SettableClock


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


#: Monday 15 February 2027, 10:00 in London (GMT): the transfers below are due then.
DUE_AT = datetime(2027, 2, 15, 10, 0, tzinfo=UTC)
#: Where `serve --start` puts the clock: 30 seconds after the transfers came due.
START = "2027-02-15T10:00:30Z"
HEADER = re.compile(
    r"tsched serve: worker \S+-\d+-[0-9a-f]{6} on sqlite, paying through the embedded "
    r"ledger, events to the outbox \(tsched events\); Ctrl-C stops"
)
STORE_TABLES = {
    "alembic_version",
    "schedule",
    "operation",
    "execution_attempt",
    "outbox",
    "audit_record",
    "audit_block",
    "ledger_account",
}


SignalHandlers = dict[int, Callable[..., Any]]


@pytest.fixture(autouse=True)
def signal_handlers(monkeypatch: pytest.MonkeyPatch) -> SignalHandlers:
    """The handlers `serve` installs, recorded instead of installed (pytest keeps its
    own SIGINT handler)."""
    installed: SignalHandlers = {}

    def record(number: int, handler: Callable[..., Any]) -> None:
        installed[number] = handler

    monkeypatch.setattr(signal, "signal", record)
    return installed


@pytest.fixture(autouse=True)
def frozen_monotonic(monkeypatch: pytest.MonkeyPatch) -> None:
    """An accelerated clock stands still at its start: `scheduler.clocks` reads a
    monotonic time that does not move."""
    monkeypatch.setattr(clocks, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DATABASE_URL names this (not yet existing) SQLite file."""
    path = tmp_path / "serve.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def engine(database: Path) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{database}")
    yield engine
    engine.dispose()


@pytest.fixture
def seeded(engine: sa.Engine) -> Ledger:
    """The store migrated, two GBP accounts, and `seed_transfer` ready to be called."""
    migrate.upgrade(engine)
    ledger = Ledger(engine, SettableClock(DUE_AT - timedelta(days=14)))
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("1000.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    return ledger


def seed_transfer(engine: sa.Engine, amount: str = "100.00") -> uuid.UUID:
    """A one-time transfer, created two weeks before it is due at `DUE_AT`."""
    clock = SettableClock(DUE_AT - timedelta(days=14))
    document = schedules.one_time_transfer("2027-02-15", amount)
    return schedules.create(engine, clock, document)


def attempts(engine: sa.Engine) -> list[tuple[str, str]]:
    """(outcome, gateway reference) of every execution attempt."""
    columns = tables.execution_attempt.c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(columns.outcome, columns.gateway_reference).order_by(columns.id)
        ).all()
    return [(row.outcome, row.gateway_reference) for row in rows]


def test_migrate_creates_the_store_tables(
    capsys: pytest.CaptureFixture[str], database: Path, engine: sa.Engine
) -> None:
    assert not database.exists()

    assert run(capsys, "migrate") == (0, "tsched: store is at the latest version\n", "")

    assert set(sa.inspect(engine).get_table_names()) >= STORE_TABLES
    # Migrating again is harmless.
    assert run(capsys, "migrate") == (0, "tsched: store is at the latest version\n", "")


@pytest.mark.parametrize(
    "command",
    [["migrate"], ["serve", "--until-idle"], ["events"], ["audit", "verify"]],
    ids=" ".join,
)
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "mysql://user@db.example.com/tsched",
            "driver 'mysql' is not one of mssql+pyodbc, postgresql+psycopg, sqlite, "
            "sqlite+pysqlite",
        ),
        ("not a database url", "is not a SQLAlchemy database URL"),
    ],
    ids=["unsupported-driver", "not-a-url"],
)
def test_an_invalid_database_url_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    url: str,
    reason: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    status, out, err = run(capsys, *command)
    assert (status, out, err) == (2, "", f"tsched: database_url: Value error, {reason}\n")


@pytest.mark.parametrize("command", [["migrate"], ["audit", "verify"]], ids=" ".join)
def test_a_database_that_cannot_be_opened_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    """A well-formed URL naming a database that cannot be opened (here a SQLite file in
    a directory that does not exist) is a bad setting too, not a crash."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'tsched.sqlite3'}")
    status, out, err = run(capsys, *command)
    assert (status, out) == (2, "")
    assert err.startswith("tsched: ")
    assert "unable to open database file" in err


def test_serve_until_idle_quiet_executes_a_due_transfer_exactly_once(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, seeded: Ledger
) -> None:
    seed_transfer(engine)

    status, out, err = run(capsys, "serve", "--start", START, "--until-idle", "--quiet")

    assert (status, err) == (0, "")
    [header] = out.splitlines()
    assert HEADER.fullmatch(header)
    [(outcome, reference)] = attempts(engine)
    assert outcome == "succeeded"
    assert reference
    assert seeded.balance("GB-DEBIT-1") == Money.of("900.00", "GBP")
    assert seeded.balance("GB-CREDIT-1") == Money.of("100.00", "GBP")

    # Serving again, even later, finds nothing to do: the transfer ran once.
    later = "2027-02-16T10:00:00Z"
    assert run(capsys, "serve", "--start", later, "--until-idle", "--quiet")[0] == 0
    assert attempts(engine) == [(outcome, reference)]
    assert seeded.balance("GB-DEBIT-1") == Money.of("900.00", "GBP")
    assert seeded.reconcile().ok


def test_serve_before_the_due_time_executes_nothing(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, seeded: Ledger
) -> None:
    seed_transfer(engine)
    status, _, _ = run(capsys, "serve", "--start", "2027-02-15T09:59:59Z", "--until-idle")
    assert status == 0
    assert attempts(engine) == []
    assert seeded.balance("GB-DEBIT-1") == Money.of("1000.00", "GBP")


def test_serve_until_idle_prints_a_line_per_busy_pass(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, seeded: Ledger
) -> None:
    seed_transfer(engine)

    status, out, err = run(capsys, "serve", "--start", START, "--until-idle")

    assert (status, err) == (0, "")
    header, *passes = out.splitlines()
    assert HEADER.fullmatch(header)
    # The idle pass that ends the run prints nothing. Sealed: schedule.created,
    # operation.succeeded and schedule.completed.
    assert passes == ["2027-02-15 10:00:30Z  claimed 1  1 succeeded  sealed 3"]


def test_serve_batch_size_caps_each_pass(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, seeded: Ledger
) -> None:
    seed_transfer(engine)
    seed_transfer(engine)

    status, out, _ = run(capsys, "serve", "--start", START, "--until-idle", "--batch-size", "1")

    assert status == 0
    # A busy pass seals at most every LoopSettings.seal_interval; the idle pass seals.
    assert out.splitlines()[1:] == [
        "2027-02-15 10:00:30Z  claimed 1  1 succeeded  sealed 4",
        "2027-02-15 10:00:30Z  claimed 1  1 succeeded  sealed 0",
        "2027-02-15 10:00:30Z  claimed 0  sealed 2",
    ]
    assert seeded.balance("GB-DEBIT-1") == Money.of("800.00", "GBP")


def test_serve_per_operation_mode_executes_the_same(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, seeded: Ledger
) -> None:
    seed_transfer(engine)
    seed_transfer(engine)

    status, out, _ = run(
        capsys, "serve", "--start", START, "--until-idle", "--mode", "per_operation"
    )

    assert status == 0
    assert out.splitlines()[1:] == ["2027-02-15 10:00:30Z  claimed 2  2 succeeded  sealed 6"]
    assert [outcome for outcome, _ in attempts(engine)] == ["succeeded", "succeeded"]


def test_serve_late_past_the_grace_window_fails_the_transfer_without_paying(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, seeded: Ledger
) -> None:
    seed_transfer(engine)
    status, out, _ = run(capsys, "serve", "--start", "2027-02-15T15:00:00Z", "--until-idle")
    assert status == 0
    assert out.splitlines()[1:] == ["2027-02-15 15:00:00Z  claimed 1  1 failed  sealed 3"]
    assert seeded.balance("GB-DEBIT-1") == Money.of("1000.00", "GBP")


def test_serve_migrates_a_fresh_store_first(
    capsys: pytest.CaptureFixture[str], database: Path, engine: sa.Engine
) -> None:
    status, out, err = run(capsys, "serve", "--until-idle")
    assert (status, err) == (0, "")
    assert HEADER.fullmatch(out.rstrip("\n"))
    assert set(sa.inspect(engine).get_table_names()) >= STORE_TABLES


def test_serve_no_migrate_runs_on_a_migrated_store(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, seeded: Ledger
) -> None:
    seed_transfer(engine)
    status, _, _ = run(capsys, "serve", "--start", START, "--until-idle", "--no-migrate")
    assert status == 0
    assert [outcome for outcome, _ in attempts(engine)] == ["succeeded"]


def test_serve_installs_sigint_and_sigterm_handlers_that_stop_it(
    capsys: pytest.CaptureFixture[str],
    engine: sa.Engine,
    seeded: Ledger,
    signal_handlers: SignalHandlers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_transfer(engine)
    serve = runner.serve
    passes: list[runner.Cycle] = []

    def serve_after_sigterm(*args: Any, **kwargs: Any) -> None:
        # SIGTERM arrives before the first pass: the loop must not run one.
        signal_handlers[signal.SIGTERM](signal.SIGTERM, None)
        serve(*args, **{**kwargs, "on_cycle": passes.append})

    monkeypatch.setattr(runner, "serve", serve_after_sigterm)
    # Without --until-idle, only the signal can end this run.
    status, _, _ = run(capsys, "serve", "--start", START)

    assert status == 0
    assert set(signal_handlers) == {signal.SIGINT, signal.SIGTERM}
    assert passes == []
    assert attempts(engine) == []


def _record_clocks(monkeypatch: pytest.MonkeyPatch) -> list[Clock]:
    built: list[Clock] = []
    build = bootstrap.build

    def recording_build(settings: Settings, **kwargs: Any) -> bootstrap.Runtime:
        built.append(kwargs["clock"])
        return build(settings, **kwargs)

    monkeypatch.setattr(bootstrap, "build", recording_build)
    return built


@pytest.mark.usefixtures("database")
def test_serve_runs_on_the_system_clock_by_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _record_clocks(monkeypatch)
    assert run(capsys, "serve", "--until-idle", "--quiet")[0] == 0
    assert [type(clock) for clock in built] == [clocks.SystemClock]


@pytest.mark.usefixtures("database")
def test_serve_speed_alone_accelerates_from_now(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _record_clocks(monkeypatch)
    before = datetime.now(UTC)
    assert run(capsys, "serve", "--speed", "3600", "--until-idle", "--quiet")[0] == 0
    after = datetime.now(UTC)
    [clock] = built
    assert isinstance(clock, clocks.AcceleratedClock)
    assert before <= clock.now() <= after  # the monotonic source is frozen
    assert clock.real_seconds(timedelta(hours=1)) == 1.0


@pytest.mark.usefixtures("database")
def test_serve_start_alone_runs_at_real_speed_from_the_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _record_clocks(monkeypatch)
    assert run(capsys, "serve", "--start", "2027-02-15T11:00:00+01:00", "--until-idle")[0] == 0
    [clock] = built
    assert isinstance(clock, clocks.AcceleratedClock)
    assert clock.now() == DUE_AT
    assert clock.real_seconds(timedelta(seconds=5)) == 5.0


@pytest.mark.parametrize(
    "flags",
    [["--batch-size", "0"], ["--mode", "sometimes"], ["--speed", "fast"], ["--start", "soon"]],
    ids=" ".join,
)
def test_serve_refuses_malformed_flags(
    capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", *flags])
    assert exited.value.code == 2
    assert "tsched serve: error: argument" in capsys.readouterr().err


def _status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int | str | None, str]:
    """The exit status whether argparse or `main` refused, and stderr."""
    try:
        status: int | str | None = cli.main(list(argv))
    except SystemExit as exited:
        status = exited.code
    return status, capsys.readouterr().err


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize(
    "flags",
    [
        ["--start", "2027-02-15T10:00:30"],
        ["--speed", "0"],
        ["--speed", "-60"],
    ],
    ids=["naive-start", "zero-speed", "negative-speed"],
)
def test_serve_refuses_a_clock_it_cannot_run_with_exit_2(
    capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """A start without an offset, or a speed that is not positive, is bad input: exit
    status 2 with a message, not a traceback."""
    status, err = _status(capsys, "serve", "--until-idle", *flags)
    assert status == 2
    assert err.startswith(("tsched: ", "usage: tsched serve"))


def test_describe_cycle_lists_outcomes_in_status_order_and_problems() -> None:
    cycle = runner.Cycle(
        claimed=4,
        recorded={
            OperationStatus.SUCCEEDED: 2,
            OperationStatus.FAILED: 1,
            OperationStatus.RETRY_WAIT: 1,
        },
        lost_leases=1,
        errors=2,
        sealed=5,
    )
    assert describe_cycle(datetime(2027, 2, 15, 10, 0, 30, tzinfo=UTC), cycle) == (
        "2027-02-15 10:00:30Z  claimed 4  1 failed, 1 retry_wait, 2 succeeded  "
        "1 lost leases  2 errors  sealed 5"
    )


def test_describe_round_says_what_the_relay_published_and_left() -> None:
    now = datetime(2027, 2, 15, 10, 0, 30, tzinfo=UTC)

    assert describe_round(now, PublishResult(read=3, published=3, batch_full=False)) == (
        "2027-02-15 10:00:30Z  published 3 events"
    )
    assert describe_round(now, PublishResult(read=500, published=0, batch_full=True)) == (
        "2027-02-15 10:00:30Z  published 0 events (500 left in the outbox for the next round)"
    )


def test_describe_cycle_of_a_pass_that_only_sealed() -> None:
    line = describe_cycle(
        datetime(2027, 2, 15, 10, 0, tzinfo=UTC), runner.Cycle(claimed=0, sealed=1)
    )
    assert line == "2027-02-15 10:00:00Z  claimed 0  sealed 1"


def test_the_api_in_several_processes_refuses_a_metrics_port_they_would_share(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_PORT", "9464")

    status, out, err = run(capsys, "api", "--workers", "2", "--port", "8080")

    assert (status, out) == (2, "")
    assert "METRICS_PORT serves one process's metrics" in err
