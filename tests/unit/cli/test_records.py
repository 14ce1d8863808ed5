"""`tsched events` and `tsched audit verify` on a SQLite store the tests fill through the
service layer and the dispatcher's pass."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler import bootstrap, cli, runner
from scheduler.adapters import cloudevents
from scheduler.adapters.sql import tables
from scheduler.domain.events import StoredEvent
from tests.support import legacy_audit, schedules
from tests.support.cli import columns, run, store_in_environment
from tests.support.clock import SettableClock


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


CREATED_AT = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
INTACT = "the chain is intact"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(CREATED_AT)


@pytest.fixture
def runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: SettableClock
) -> Iterator[bootstrap.Runtime]:
    """A migrated SQLite store that DATABASE_URL names, with two GBP accounts."""
    runtime = store_in_environment(tmp_path / "records.sqlite3", monkeypatch, clock)
    yield runtime
    runtime.close()


def create_transfer(runtime: bootstrap.Runtime, start_date: str, amount: str) -> uuid.UUID:
    """A one-time GBP transfer at 10:00 London time on `start_date`, no reminders."""
    document = schedules.one_time_transfer(start_date, amount)
    return schedules.create(runtime.engine, runtime.clock, document)


@pytest.fixture
def history(runtime: bootstrap.Runtime, clock: SettableClock) -> tuple[uuid.UUID, uuid.UUID]:
    """Two transfers and three passes, each sealing one audit block:

    1. at creation: block 1 seals the two schedule.created records;
    2. Monday 15 Feb 10:00: the first pays (block 2: operation.succeeded and
       schedule.completed);
    3. Tuesday 16 Feb 10:00: the second, more than the balance, waits for a retry
       (block 3: operation.retry_wait).

    Outbox ids 1-5: created, created, succeeded, completed, retry scheduled."""
    paid = create_transfer(runtime, "2027-02-15", "100.00")
    clock.advance_to(CREATED_AT + timedelta(hours=1))
    declined = create_transfer(runtime, "2027-02-16", "5000.00")
    for moment in (
        CREATED_AT + timedelta(hours=1),
        datetime(2027, 2, 15, 10, 0, 1, tzinfo=UTC),
        datetime(2027, 2, 16, 10, 0, 1, tzinfo=UTC),
    ):
        clock.advance_to(moment)
        assert runner.run_cycle(runtime, runner.LoopSettings()).sealed > 0
    return paid, declined


def stored_events(runtime: bootstrap.Runtime) -> list[StoredEvent]:
    with runtime.unit_of_work() as uow:
        return uow.outbox.after(0, 100)


def mark_published(runtime: bootstrap.Runtime, *outbox_ids: int) -> None:
    with runtime.unit_of_work() as uow:
        uow.outbox.mark_published(outbox_ids, datetime(2027, 3, 1, tzinfo=UTC))
        uow.commit()


def listed_ids(out: str) -> tuple[str, ...]:
    return columns(out)["id"] if out else ()


def test_events_prints_a_table_of_the_outbox(
    capsys: pytest.CaptureFixture[str], history: tuple[uuid.UUID, uuid.UUID]
) -> None:
    paid, declined = (str(schedule_id)[:8] for schedule_id in history)

    status, out, err = run(capsys, "events")

    assert (status, err) == (0, "")
    assert columns(out) == {
        "id": ("1", "2", "3", "4", "5"),
        "occurred (UTC)": (
            "2027-02-01 12:00",
            "2027-02-01 13:00",
            "2027-02-15 10:00",
            "2027-02-15 10:00",
            "2027-02-16 10:00",
        ),
        "type": (
            "schedule.created",
            "schedule.created",
            "execution.succeeded",
            "schedule.completed",
            "execution.retry_scheduled",
        ),
        "schedule": (paid, declined, paid, paid, declined),
        "status": ("active", "active", "succeeded", "completed", "retry_wait"),
        "amount": ("GBP 100.00", "GBP 5000.00", "GBP 100.00", "GBP 100.00", "GBP 5000.00"),
        "detail": ("", "", "", "", "insufficient_funds"),
    }


@pytest.mark.usefixtures("history")
def test_events_hides_published_events_unless_all(
    capsys: pytest.CaptureFixture[str], runtime: bootstrap.Runtime
) -> None:
    mark_published(runtime, 1, 2, 4)

    assert listed_ids(run(capsys, "events")[1]) == ("3", "5")
    assert listed_ids(run(capsys, "events", "--all")[1]) == ("1", "2", "3", "4", "5")


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(
    ("flags", "ids"),
    [
        (["--all", "--after", "3"], ("4", "5")),
        (["--all", "--after", "5"], ()),
        (["--all", "-n", "2"], ("1", "2")),
        (["--all", "--after", "1", "--limit", "3"], ("2", "3", "4")),
        (["--after", "3"], ("4", "5")),
        (["-n", "2"], ("1", "2")),
    ],
    ids=" ".join,
)
def test_events_after_and_limit_page_through_the_outbox(
    capsys: pytest.CaptureFixture[str], flags: list[str], ids: tuple[str, ...]
) -> None:
    status, out, _ = run(capsys, "events", *flags)
    assert status == 0
    assert listed_ids(out) == ids


@pytest.mark.usefixtures("history")
def test_events_after_and_limit_page_through_unpublished_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --all, `--after 3 -n 2` is the next page of unpublished events: 4 and 5
    (the limit must count events after the cursor, not from the oldest)."""
    status, out, _ = run(capsys, "events", "--after", "3", "-n", "2")
    assert status == 0
    assert listed_ids(out) == ("4", "5")


def test_events_of_an_empty_outbox_prints_nothing(
    capsys: pytest.CaptureFixture[str], runtime: bootstrap.Runtime
) -> None:
    assert run(capsys, "events") == (0, "", "")
    assert run(capsys, "events", "--all", "--json") == (0, "[]\n", "")


@pytest.mark.usefixtures("history")
def test_events_json_prints_the_cloudevents(
    capsys: pytest.CaptureFixture[str], runtime: bootstrap.Runtime
) -> None:
    status, out, _ = run(capsys, "events", "--all", "--json", "--after", "2", "-n", "2")

    assert status == 0
    printed: list[dict[str, Any]] = json.loads(out)
    expected = [cloudevents.to_cloudevent(stored.event) for stored in stored_events(runtime)[2:4]]
    assert printed == json.loads(json.dumps(expected))
    succeeded, completed = printed
    assert succeeded["type"] == "com.tsched.execution.succeeded.v1"
    assert succeeded["time"] == "2027-02-15T10:00:01Z"
    assert succeeded["specversion"] == "1.0"
    assert succeeded["data"]["amount"] == {"value": "100.00", "currency": "GBP"}
    assert completed["type"] == "com.tsched.schedule.completed.v1"
    assert completed["subject"] == succeeded["subject"]


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_events_refuses_a_limit_below_one(capsys: pytest.CaptureFixture[str], limit: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["events", "-n", limit])
    assert exited.value.code == 2
    assert "argument -n/--limit" in capsys.readouterr().err


def test_audit_verify_counts_unsealed_records_without_failing(
    capsys: pytest.CaptureFixture[str], runtime: bootstrap.Runtime
) -> None:
    create_transfer(runtime, "2027-02-15", "100.00")
    create_transfer(runtime, "2027-02-16", "100.00")

    assert run(capsys, "audit", "verify") == (
        0,
        f"checked 0 blocks holding 0 records; 2 records not sealed yet\n{INTACT}\n",
        "",
    )


@pytest.mark.usefixtures("history")
def test_audit_verify_of_an_intact_trail_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "audit", "verify") == (
        0,
        f"checked 3 blocks holding 5 records; 0 records not sealed yet\n{INTACT}\n",
        "",
    )


def _tamper(runtime: bootstrap.Runtime, statement: sa.Executable) -> None:
    with runtime.engine.begin() as connection:
        assert connection.execute(statement).rowcount > 0


_record = tables.audit_record
_block = tables.audit_block


CHANGED = "(content no longer matches its sealed hash)"


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(
    ("statement", "checked", "tail"),
    [
        (
            sa.update(_record).where(_record.c.seq == 3).values(details={"forged": True}),
            "checked 2 blocks holding 4 records",
            [f"changed: seq 3 {CHANGED}", "BROKEN: block 2 (records_digest_mismatch)"],
        ),
        (
            sa.update(_record).where(_record.c.seq == 1).values(actor="customer:mallory"),
            "checked 1 blocks holding 2 records",
            [f"changed: seq 1 {CHANGED}", "BROKEN: block 1 (records_digest_mismatch)"],
        ),
        (
            sa.delete(_record).where(_record.c.seq == 5),
            "checked 3 blocks holding 4 records",
            ["missing: seq 5 (sealed in block 3, now gone)", "BROKEN: block 3 (count_mismatch)"],
        ),
        (
            sa.delete(_record).where(_record.c.seq.in_([1, 2])),
            "checked 1 blocks holding 0 records",
            ["missing: seq 1-2 (sealed in block 1, now gone)", "BROKEN: block 1 (count_mismatch)"],
        ),
        (
            sa.update(_record).where(_record.c.seq == 4).values(block_no=3),
            "checked 2 blocks holding 3 records",
            ["missing: seq 4 (sealed in block 2, now gone)", "BROKEN: block 2 (count_mismatch)"],
        ),
        (
            sa.update(_record).where(_record.c.seq == 5).values(block_no=2),
            "checked 2 blocks holding 5 records",
            ["added: seq 5 (in block 2, never sealed there)", "BROKEN: block 2 (count_mismatch)"],
        ),
        (
            sa.update(_block).where(_block.c.block_no == 2).values(previous_hash="0" * 64),
            "checked 2 blocks holding 4 records",
            ["BROKEN: block 2 (chain_break)"],
        ),
        (
            sa.update(_block).where(_block.c.block_no == 2).values(record_hashes="3:" + "0" * 64),
            "checked 2 blocks holding 4 records",
            ["BROKEN: block 2 (hash_list_mismatch)"],
        ),
    ],
    ids=[
        "record-details-changed",
        "record-actor-changed",
        "record-deleted",
        "two-records-deleted",
        "record-moved-out",
        "record-moved-in",
        "block-previous-hash-changed",
        "block-hash-list-changed",
    ],
)
def test_audit_verify_names_the_first_broken_block_and_its_records_and_exits_1(
    capsys: pytest.CaptureFixture[str],
    runtime: bootstrap.Runtime,
    statement: sa.Executable,
    checked: str,
    tail: list[str],
) -> None:
    """The records named come before the verdict, which stays the last line."""
    _tamper(runtime, statement)

    status, out, err = run(capsys, "audit", "verify")

    assert (status, err) == (1, "")
    assert out.splitlines() == [f"{checked}; 0 records not sealed yet", *tail]


def test_audit_verify_says_why_a_block_sealed_before_hash_lists_cannot_name_records(
    capsys: pytest.CaptureFixture[str], runtime: bootstrap.Runtime, clock: SettableClock
) -> None:
    create_transfer(runtime, "2027-02-15", "100.00")
    with runtime.engine.begin() as connection:
        legacy_audit.seal_before_hash_lists(connection, previous=None, sealed_at=clock.now())
    _tamper(runtime, sa.update(_record).where(_record.c.seq == 1).values(actor="mallory"))

    status, out, _ = run(capsys, "audit", "verify")

    assert status == 1
    assert out.splitlines()[1:] == [
        "records not named: block 1 was sealed before blocks kept a hash list;"
        " compare its records by hand",
        "BROKEN: block 1 (records_digest_mismatch)",
    ]
