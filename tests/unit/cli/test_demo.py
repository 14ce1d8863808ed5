"""`tsched demo`: two months of the demo schedules on a simulated clock from 25 January
2027, so everything it prints is exact apart from the ledger's booking ids; then the
store it leaves, read back with `tsched events` and `tsched audit verify`."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler import cli, demo
from scheduler.adapters.sql import tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.config import Settings, load_settings
from scheduler.domain.retry import recommended_action
from tests.support.cli import columns, run

SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)
EVENT_LINE = re.compile(
    r"(?P<at>\d{4}-\d\d-\d\d \d\d:\d\dZ)  (?P<type>[a-z_.]+) +(?P<label>\S+) +"
    r"(?P<currency>[A-Z]{3}) +(?P<value>[\d.]+)(?:  (?P<detail>.+))?"
)
REFERENCE = re.compile(r" \(ref [0-9a-f-]{36}\)$")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INSUFFICIENT_FUNDS = f"insufficient_funds: {recommended_action('insufficient_funds')}"

#: Successful executions per schedule by the end of the demo (31 March 2027 08:00Z):
#: mortgage 29 Jan, 26 Feb, 31 Mar; savings 28 Feb, 7 and 14 Mar (the USD 120.00 runs
#: out); streaming 1 Feb and 1 Mar (1 April is after the end); rent once, 15 Feb.
SUCCESSES = {"mortgage": 3, "savings": 3, "streaming": 2, "rent": 1}


@dataclass(frozen=True)
class EventLine:
    at: str
    type: str
    label: str
    amount: str
    detail: str


@dataclass(frozen=True)
class DemoRun:
    database: Path
    status: int
    out: str
    err: str

    @property
    def events(self) -> list[EventLine]:
        lines = []
        for line in self.out.splitlines():
            match = EVENT_LINE.fullmatch(line)
            if match is not None:
                detail = REFERENCE.sub("", match["detail"] or "")
                amount = f"{match['currency']} {match['value']}"
                lines.append(EventLine(match["at"], match["type"], match["label"], amount, detail))
        return lines

    def of(self, label: str, *, reminders: bool = False) -> list[tuple[str, str, str]]:
        """(time, type, detail) of `label`'s events, reminders left out unless asked."""
        return [
            (event.at, event.type, event.detail)
            for event in self.events
            if event.label == label and (reminders or event.type != "reminder.due")
        ]

    def balances(self) -> dict[str, tuple[str, str]]:
        """Account id to (customer, balance) from the summary."""
        _, summary = self.out.split(": balances\n", 1)
        rows = itertools.takewhile(lambda line: line.startswith("  "), summary.splitlines())
        parsed = (line.split(maxsplit=2) for line in rows)
        return {account: (customer, balance) for account, customer, balance in parsed}


def _isolate(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(directory)
    load_settings.cache_clear()


def run_demo(database: Path) -> DemoRun:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["demo", "--database", str(database)])
    return DemoRun(database, status, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One run of the demo, shared by the tests that only read what it printed or left
    (a test that changes the store runs its own)."""
    directory = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, directory)
        result = run_demo(directory / "demo.sqlite3")
    load_settings.cache_clear()
    return result


def _code(event: EventLine) -> str:
    """What `tsched events` shows as the detail of an event the demo printed: the
    reminder's offset or the error code."""
    if event.type == "reminder.due":
        return event.detail.split()[0]  # "P3D before the execution of ..."
    if event.type in ("execution.retry_scheduled", "execution.failed"):
        return re.split("[;:]", event.detail)[0]  # "insufficient_funds; retry at ..."
    return ""


def _count(database: Path, table: sa.Table) -> int:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def test_the_demo_exits_0_quietly_on_stderr(demo_run: DemoRun) -> None:
    assert (demo_run.status, demo_run.err) == (0, "")


def test_the_demo_prints_each_schedule_created_with_its_first_execution(
    demo_run: DemoRun,
) -> None:
    assert demo_run.out.startswith("== 2027-01-25 08:00Z: 4 schedules created\n")
    created = [event for event in demo_run.events if event.type == "schedule.created"]
    assert [(event.at, event.label, event.amount, event.detail) for event in created] == [
        # Sun 31 Jan -> Fri 29 Jan (modified following), 09:00 GMT.
        ("2027-01-25 08:00Z", "mortgage", "GBP 1250.00", "first execution 2027-01-29 09:00Z"),
        # Sun 28 Feb 02:30 in New York (EST).
        ("2027-01-25 08:00Z", "savings", "USD 40.00", "first execution 2027-02-28 07:30Z"),
        # Mon 1 Feb 07:00 in Berlin (CET).
        ("2027-01-25 08:00Z", "streaming", "EUR 49.99", "first execution 2027-02-01 06:00Z"),
        # Sat 13 Feb -> Mon 15 Feb (following), 10:00 in Tokyo.
        ("2027-01-25 08:00Z", "rent", "JPY 150000", "first execution 2027-02-15 01:00Z"),
    ]
    assert [item.label for item in demo.DEMO_SCHEDULES] == [event.label for event in created]


def test_the_mortgage_executes_on_business_days_under_modified_following(
    demo_run: DemoRun,
) -> None:
    assert demo_run.of("mortgage") == [
        ("2027-01-25 08:00Z", "schedule.created", "first execution 2027-01-29 09:00Z"),
        # 31 January 2027 is a Sunday: modified following stays in January.
        ("2027-01-29 09:00Z", "execution.succeeded", "executed 2027-01-29"),
        # 28 February is a Sunday too.
        ("2027-02-26 09:00Z", "execution.succeeded", "executed 2027-02-26"),
        # 31 March is a Wednesday, 09:00 BST.
        ("2027-03-31 08:00Z", "execution.succeeded", "executed 2027-03-31"),
    ]


def test_the_mortgage_reminders_follow_the_default_offsets(demo_run: DemoRun) -> None:
    reminders = [
        item for item in demo_run.of("mortgage", reminders=True) if item[1] == "reminder.due"
    ]
    assert reminders[:3] == [
        ("2027-01-26 09:00Z", "reminder.due", "P3D before the execution of 2027-01-29"),
        ("2027-01-28 09:00Z", "reminder.due", "P1D before the execution of 2027-01-29"),
        ("2027-01-29 08:00Z", "reminder.due", "PT1H before the execution of 2027-01-29"),
    ]
    assert len(reminders) == 9  # three before each of the three executions


def test_the_rent_executes_the_next_business_day_and_completes(demo_run: DemoRun) -> None:
    assert demo_run.of("rent", reminders=True) == [
        ("2027-01-25 08:00Z", "schedule.created", "first execution 2027-02-15 01:00Z"),
        ("2027-02-14 01:00Z", "reminder.due", "P1D before the execution of 2027-02-15"),
        ("2027-02-15 00:00Z", "reminder.due", "PT1H before the execution of 2027-02-15"),
        ("2027-02-15 01:00Z", "execution.succeeded", "executed 2027-02-15"),
        ("2027-02-15 01:00Z", "schedule.completed", ""),
    ]
    assert {event.amount for event in demo_run.events if event.label == "rent"} == {"JPY 150000"}


def test_the_savings_run_out_of_funds_retry_and_fail_with_an_action(demo_run: DemoRun) -> None:
    assert demo_run.of("savings") == [
        ("2027-01-25 08:00Z", "schedule.created", "first execution 2027-02-28 07:30Z"),
        ("2027-02-28 07:30Z", "execution.succeeded", "executed 2027-02-28"),
        ("2027-03-07 07:30Z", "execution.succeeded", "executed 2027-03-07"),
        # 02:30 does not exist on 14 March in New York: 03:30 EDT.
        ("2027-03-14 07:30Z", "execution.succeeded", "executed 2027-03-14"),
        # USD 120.00 paid three times 40.00: the fourth is declined, retried on the next
        # two business mornings (08:00 EDT) and then failed for someone to act on.
        (
            "2027-03-21 06:30Z",
            "execution.retry_scheduled",
            "insufficient_funds; retry at 2027-03-22 12:00Z",
        ),
        (
            "2027-03-22 12:00Z",
            "execution.retry_scheduled",
            "insufficient_funds; retry at 2027-03-23 12:00Z",
        ),
        ("2027-03-23 12:00Z", "execution.failed", INSUFFICIENT_FUNDS),
        (
            "2027-03-28 06:30Z",
            "execution.retry_scheduled",
            "insufficient_funds; retry at 2027-03-29 12:00Z",
        ),
        (
            "2027-03-29 12:00Z",
            "execution.retry_scheduled",
            "insufficient_funds; retry at 2027-03-30 12:00Z",
        ),
        ("2027-03-30 12:00Z", "execution.failed", INSUFFICIENT_FUNDS),
    ]
    assert "re-drive" in INSUFFICIENT_FUNDS


def test_the_streaming_subscription_pays_on_the_first(demo_run: DemoRun) -> None:
    assert [item for item in demo_run.of("streaming") if item[1] != "schedule.created"] == [
        ("2027-02-01 06:00Z", "execution.succeeded", "executed 2027-02-01"),
        ("2027-03-01 06:00Z", "execution.succeeded", "executed 2027-03-01"),
    ]


def test_every_success_is_one_printed_execution(demo_run: DemoRun) -> None:
    succeeded = Counter(
        event.label for event in demo_run.events if event.type == "execution.succeeded"
    )
    assert succeeded == SUCCESSES


def test_the_final_balances_are_the_openings_moved_by_each_success(demo_run: DemoRun) -> None:
    expected = {
        account.account_id: Decimal(account.opening_balance) for account in demo.DEMO_ACCOUNTS
    }
    for item in demo.DEMO_SCHEDULES:
        moved = Decimal(item.document["amount"]["value"]) * SUCCESSES[item.label]
        expected[item.document["debit_account"]] -= moved
        expected[item.document["credit_account"]] += moved
    currencies = {account.account_id: account.currency for account in demo.DEMO_ACCOUNTS}
    customers = {account.account_id: account.customer_id for account in demo.DEMO_ACCOUNTS}

    balances = demo_run.balances()

    assert balances == {
        account_id: (customers[account_id], f"{currencies[account_id]} {amount}")
        for account_id, amount in expected.items()
    }
    assert balances == {
        "GB33BUKB20201555555555": ("alice", "GBP 6250.00"),
        "GB94BARC10201530093459": ("bank", "GBP 3750.00"),
        "US-CHK-001": ("bob", "USD 0.00"),
        "US-SAV-001": ("bob", "USD 120.00"),
        "DE89370400440532013000": ("carol", "EUR 100.02"),
        "DE02120300000000202051": ("streaming", "EUR 99.98"),
        "JP-0001-1234567": ("dai", "JPY 350000"),
        "JP-0005-7654321": ("landlord", "JPY 150000"),
    }
    # The summary is at the last operation the demo ran: the mortgage on 31 March.
    assert "\n== 2027-03-31 08:00Z: balances\n" in demo_run.out


def test_the_ledger_reconciles_and_the_audit_trail_is_intact(demo_run: DemoRun) -> None:
    assert "\nledger reconciles: True\n" in demo_run.out
    match = re.search(
        r"^audit trail: (\d+) records in (\d+) blocks, intact; 0 not sealed yet$",
        demo_run.out,
        re.M,
    )
    assert match is not None
    records, blocks = int(match[1]), int(match[2])
    assert records == _count(demo_run.database, tables.audit_record)
    assert blocks == _count(demo_run.database, tables.audit_block)
    assert 0 < blocks <= records


def test_the_demo_prints_every_event_of_the_outbox_once(demo_run: DemoRun) -> None:
    assert len(demo_run.events) == _count(demo_run.database, tables.outbox)


def test_the_demo_ends_by_saying_how_to_explore_the_store(demo_run: DemoRun) -> None:
    database = demo_run.database
    assert demo_run.out.endswith(
        f"\nThe store is {database}; explore it with\n"
        f"  DATABASE_URL=sqlite:///{database} tsched events --all\n"
        f"  DATABASE_URL=sqlite:///{database} tsched audit verify\n"
    )


@pytest.mark.usefixtures("isolated_settings")
def test_running_the_demo_again_recreates_the_store(demo_run: DemoRun, tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    database.write_text("not a database", encoding="utf-8")
    Path(f"{database}-wal").write_bytes(b"stale")

    first = run_demo(database)
    second = run_demo(database)

    assert first.status == second.status == 0
    # Only the booking ids differ; the events are not doubled in the new file.
    assert UUID.sub("<uuid>", first.out) == UUID.sub("<uuid>", second.out)
    assert UUID.findall(first.out) != UUID.findall(second.out)
    assert _count(database, tables.outbox) == len(second.events)
    # And both match the shared run, but for the file name.
    shared = UUID.sub("<uuid>", demo_run.out).replace(str(demo_run.database), "<db>")
    assert UUID.sub("<uuid>", first.out).replace(str(database), "<db>") == shared


@pytest.mark.usefixtures("isolated_settings")
def test_events_all_lists_the_events_the_demo_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_run: DemoRun
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{demo_run.database}")

    status, out, err = run(capsys, "events", "--all", "-n", "500")

    assert (status, err) == (0, "")
    table = columns(out)
    listed = list(
        zip(
            table["id"],
            table["occurred (UTC)"],
            table["type"],
            table["amount"],
            table["detail"],
            strict=True,
        )
    )
    assert listed == [
        (str(number), event.at.removesuffix("Z"), event.type, event.amount, _code(event))
        for number, event in enumerate(demo_run.events, start=1)
    ]
    # Kafka is not configured, so nothing was published: plain `events` lists the same.
    assert run(capsys, "events", "-n", "500")[1] == out


@pytest.mark.usefixtures("isolated_settings")
def test_audit_verify_of_the_demo_store_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_run: DemoRun
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{demo_run.database}")
    blocks = _count(demo_run.database, tables.audit_block)
    records = _count(demo_run.database, tables.audit_record)

    assert run(capsys, "audit", "verify") == (
        0,
        f"checked {blocks} blocks holding {records} records; 0 records not sealed yet\n"
        "the chain is intact\n",
        "",
    )


@pytest.mark.usefixtures("isolated_settings")
def test_audit_verify_finds_a_tampered_record_in_the_demo_store(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = tmp_path / "tampered.sqlite3"
    assert run_demo(database).status == 0
    record = tables.audit_record
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            # The record of the rent's payment: someone rewrites what it says.
            seq, block_no = connection.execute(
                sa.select(record.c.seq, record.c.block_no)
                .where(record.c.action == "schedule.completed")
                .order_by(record.c.seq)
            ).one()
            connection.execute(
                sa.update(record).where(record.c.seq == seq).values(details={"note": "edited"})
            )
    finally:
        engine.dispose()
    assert block_no > 1
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")

    status, out, err = run(capsys, "audit", "verify")

    assert (status, err) == (1, "")
    assert out.splitlines()[-1] == f"BROKEN: block {block_no} (records_digest_mismatch)"
    assert out.startswith(f"checked {block_no} blocks holding ")
