"""`tsched status`: the operations figures of the store DATABASE_URL names, as text
(with the latest stopped operations as a table) or as the API's JSON, once or again
every few seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler import bootstrap, runner
from scheduler.api.ops_schemas import OpsStatusOut
from scheduler.cli import status
from scheduler.service.operations_status import operations_status
from tests.support import api
from tests.support.cli import columns, run
from tests.support.clock import SettableClock
from tests.support.schedules import create, one_time_transfer

DUE = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[bootstrap.Runtime]:
    """A store with one transfer that failed (its credit account does not exist)."""
    runtime = api.migrated_runtime(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / api.STORE_FILE}")
    failing = one_time_transfer("2027-01-04", "17.17") | {"credit_account": "GB-NOWHERE"}
    create(runtime.engine, runtime.clock, failing, accounts=runtime.accounts)
    assert isinstance(runtime.clock, SettableClock)
    runtime.clock.advance_to(DUE + timedelta(seconds=5))
    runner.run_cycle(runtime, runner.LoopSettings())
    yield runtime
    runtime.close()


def test_status_prints_the_figures_and_the_stopped_operations(
    runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "status")

    assert code == 0
    lines = out.splitlines()
    assert "stopped now: 0 dead, 1 failed" in lines
    assert "relay off" in out
    table = columns("\n".join(lines[lines.index("") + 1 :]))
    assert table["status"] == ("failed",)
    assert table["amount"] == ("17.17 GBP",)
    assert table["why"] == ("unknown_account",)


def test_status_json_is_the_apis(
    runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "status", "--json")

    body = OpsStatusOut.model_validate(json.loads(out))
    assert code == 0
    assert (body.failed, body.dead) == (1, 0)
    assert body.latest_stopped[0].debit_account.startswith("****")


def test_watch_prints_a_frame_every_period_until_stopped(
    runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = OpsStatusOut.of(
        operations_status(uow=runtime.unit_of_work(), clock=runtime.clock, relay_enabled=True)
    )
    waits: list[float] = []

    status.watch(lambda: figures, every=2.5, json=False, sleep=waits.append, frames=3)

    out = capsys.readouterr().out
    assert out.count(status.CLEAR) == 3
    assert out.count("stopped now: 0 dead, 1 failed") == 3
    assert waits == [2.5, 2.5]


def test_a_watch_period_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "status", "--watch", "0")
