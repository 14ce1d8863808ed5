"""`tsched history export`: a customer's attempts to a CSV or PDF file, with the API's
filters, checks and masking, audited as a privileged read."""

from __future__ import annotations

import csv
import getpass
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from scheduler import bootstrap, runner
from scheduler.adapters.sql import tables
from tests.support import schedules
from tests.support.cli import run, store_in_environment
from tests.support.clock import SettableClock


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


CREATED_AT = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[bootstrap.Runtime]:
    """A store DATABASE_URL names where Alice paid 100.00 and 200.00 and a third transfer,
    5,000.00, waits to retry for want of funds."""
    clock = SettableClock(CREATED_AT)
    runtime = store_in_environment(tmp_path / "history.sqlite3", monkeypatch, clock)
    for amount in ("100.00", "200.00", "5000.00"):
        schedules.create(runtime.engine, clock, schedules.one_time_transfer("2027-02-15", amount))
    clock.advance_to(datetime(2027, 2, 15, 10, 0, 1, tzinfo=UTC))
    while runner.run_cycle(runtime, runner.LoopSettings()).claimed:
        clock.advance_to(clock.now() + timedelta(seconds=1))
    yield runtime
    runtime.close()


def _exports(runtime: bootstrap.Runtime) -> list[sa.Row[tuple[str, str, dict[str, object]]]]:
    audit = tables.audit_record.c
    query = sa.select(audit.actor, audit.customer_id, audit.details).where(
        audit.action == "history.exported"
    )
    with runtime.engine.connect() as connection:
        return list(connection.execute(query).all())


def test_the_export_writes_every_attempt_masked_and_is_audited(
    runtime: bootstrap.Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "alice.csv"

    status, out, _ = run(capsys, "history", "export", "--customer", "alice", "-o", str(target))

    assert status == 0
    assert out == f"3 attempts of alice written to {target}\n"
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert sorted((row["status"], row["amount"]) for row in rows) == [
        ("retry_wait", "5000.00"),
        ("succeeded", "100.00"),
        ("succeeded", "200.00"),
    ]
    assert {row["debit_account"] for row in rows} == {"****IT-1"}
    ((actor, customer, details),) = _exports(runtime)
    assert (actor, customer) == (f"cli:{getpass.getuser()}", "alice")
    assert details == {"filters": [], "format": "csv", "rows": 3, "delivery": "file"}


def test_the_export_takes_the_api_s_filters(
    runtime: bootstrap.Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "paid.csv"
    argv = ["--status", "succeeded", "--amount-min", "150", "--currency", "GBP"]

    status, _, _ = run(capsys, "history", "export", "--customer", "alice", "-o", str(target), *argv)

    assert status == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [(row["status"], row["amount"]) for row in rows] == [("succeeded", "200.00")]
    ((_, _, details),) = _exports(runtime)
    assert details["filters"] == ["status=succeeded", "amount_min=150", "currency=GBP"]


def test_the_export_as_pdf_is_a_report_of_the_attempts(
    runtime: bootstrap.Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "alice.pdf"

    status, _, _ = run(
        capsys, "history", "export", "--customer", "alice", "--format", "pdf", "-o", str(target)
    )

    assert status == 0
    text = "".join(page.extract_text() for page in PdfReader(target).pages)
    assert "alice" in text
    assert "5000.00" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--amount-min", "5", "--amount-max", "1"], "amount_min is more than amount_max"),
        (["--amount-min", "1e3"], "amount_min is not a decimal number"),
        (["--from", "2027-02-01T00:00"], "from"),
    ],
)
def test_a_bad_filter_is_refused_and_writes_and_audits_nothing(
    runtime: bootstrap.Runtime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    target = tmp_path / "refused.csv"

    status, out, err = run(
        capsys, "history", "export", "--customer", "alice", "-o", str(target), *argv
    )

    assert (status, out) == (2, "")
    assert message in err
    assert list(tmp_path.glob("*refused*")) == []
    assert _exports(runtime) == []
