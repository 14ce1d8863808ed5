"""`tsched preview` and `tsched examples`, run in-process with a fixed --after."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from scheduler import cli, demo
from scheduler.api.app import create_app
from scheduler.domain import plan
from tests.support.api import migrated_runtime
from tests.support.cli import columns, run

AFTER = ["--after", "2027-01-01T00:00:00Z"]

MORTGAGE_FLAGS = [
    "--start", "2027-01-31",
    "--frequency", "monthly",
    "--day-of-month", "31",
    "--calendar", "GB-ENG",
    "--convention", "modified_following",
    "--amount", "1250.00",
    "--currency", "GBP",
]  # fmt: skip

MORTGAGE_DOCUMENT = {
    "kind": "recurring_payment",
    "debit_account": "DEBIT-ACCOUNT",
    "credit_account": "CREDIT-ACCOUNT",
    "amount": {"value": "1250.00", "currency": "GBP"},
    "start_date": "2027-01-31",
    "time_of_day": "09:00",
    "time_zone": "Europe/London",
    "recurrence": {"frequency": "monthly", "day_of_month": 31},
    "business_days": {"calendar": "GB-ENG", "convention": "modified_following"},
}


def test_preview_with_flags_prints_a_table_of_executions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "preview", *MORTGAGE_FLAGS, *AFTER, "-n", "5")
    assert (status, err) == (0, "")
    table = columns(out)
    assert list(table) == [
        "#", "nominal", "executes", "local time", "UTC", "note", "reminders (local)"
    ]  # fmt: skip
    assert table["#"] == ("0", "1", "2", "3", "4")
    assert table["nominal"] == (
        "2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"
    )  # fmt: skip
    assert table["executes"] == (
        "2027-01-29", "2027-02-26", "2027-03-31", "2027-04-30", "2027-05-28"
    )  # fmt: skip
    assert table["local time"] == (
        "2027-01-29 09:00 GMT",
        "2027-02-26 09:00 GMT",
        "2027-03-31 09:00 BST",
        "2027-04-30 09:00 BST",
        "2027-05-28 09:00 BST",
    )
    assert table["UTC"] == (
        "2027-01-29 09:00Z",
        "2027-02-26 09:00Z",
        "2027-03-31 08:00Z",
        "2027-04-30 08:00Z",
        "2027-05-28 08:00Z",
    )
    assert table["note"] == ("", "", "", "", "Spring Bank Holiday")
    assert table["reminders (local)"][2] == "P3D: 03-28 09:00, P1D: 03-30 09:00, PT1H: 03-31 08:00"


def test_the_table_notes_a_time_shifted_forward_by_dst(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        "preview",
        "--start", "2027-03-07",
        "--frequency", "weekly",
        "--weekdays", "SU",
        "--time", "02:30",
        "--zone", "America/New_York",
        "--convention", "none",
        "--reminders", "P1D",
        *AFTER,
        "-n", "3",
    )  # fmt: skip
    assert status == 0
    table = columns(out)
    assert table["local time"] == (
        "2027-03-07 02:30 EST",
        "2027-03-14 03:30 EDT",
        "2027-03-21 02:30 EDT",
    )
    assert table["UTC"] == ("2027-03-07 07:30Z", "2027-03-14 07:30Z", "2027-03-21 06:30Z")
    assert table["note"] == ("", "shifted forward", "")
    assert table["reminders (local)"] == (
        "P1D: 03-06 02:30",
        "P1D: 03-13 03:30",
        "P1D: 03-20 02:30",
    )


def test_preview_json_lists_dates_instants_and_reminders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "preview", *MORTGAGE_FLAGS, *AFTER, "-n", "2", "--json")
    assert (status, err) == (0, "")
    executions = json.loads(out)
    assert [e["index"] for e in executions] == [0, 1]
    assert executions[0] == {
        "index": 0,
        "nominal_date": "2027-01-31",
        "execution_date": "2027-01-29",
        "holiday": None,
        "execute_at_utc": "2027-01-29T09:00:00Z",
        "execute_at_local": "2027-01-29T09:00:00Z",
        "dst_resolution": "exact",
        "reminders": [
            {
                "offset": "P3D",
                "due_at_utc": "2027-01-26T09:00:00Z",
                "due_at_local": "2027-01-26T09:00:00Z",
            },
            {
                "offset": "P1D",
                "due_at_utc": "2027-01-28T09:00:00Z",
                "due_at_local": "2027-01-28T09:00:00Z",
            },
            {
                "offset": "PT1H",
                "due_at_utc": "2027-01-29T08:00:00Z",
                "due_at_local": "2027-01-29T08:00:00Z",
            },
        ],
    }
    assert executions[1]["execute_at_utc"] == "2027-02-26T09:00:00Z"


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["table", "json"])
def test_preview_of_a_file_matches_the_same_schedule_given_by_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: list[str]
) -> None:
    path = tmp_path / "mortgage.json"
    path.write_text(json.dumps(MORTGAGE_DOCUMENT), encoding="utf-8")
    from_file = run(capsys, "preview", "--file", str(path), *AFTER, "-n", "6", *output)
    from_flags = run(capsys, "preview", *MORTGAGE_FLAGS, *AFTER, "-n", "6", *output)
    assert from_file[0] == 0
    assert from_file == from_flags


def test_preview_reads_the_document_from_stdin_given_a_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(MORTGAGE_DOCUMENT)))
    status, out, _ = run(capsys, "preview", "--file", "-", *AFTER, "-n", "1", "--json")
    assert status == 0
    assert json.loads(out)[0]["execution_date"] == "2027-01-29"


def test_a_one_time_transfer_after_it_ran_has_no_executions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(
        capsys, "preview", "--start", "2027-12-25", "--after", "2028-01-01T00:00:00Z"
    )
    assert (status, out) == (0, "(no executions)\n")


def test_empty_reminders_flag_means_no_reminders(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "preview", "--start", "2027-02-01", "--reminders", "", *AFTER, "--json")
    assert json.loads(out)[0]["reminders"] == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--start", "2027-01-31", "--amount", "1.001", "--currency", "EUR"],
            "tsched: amount: EUR amounts have at most 2 decimals, got 1.001\n",
        ),
        (
            ["--start", "2027-01-31", "--zone", "Mars/Base"],
            "tsched: time_zone: 'Mars/Base' is not a known IANA time zone\n",
        ),
        (
            ["--start", "2027-01-31", "--currency", "BGN"],
            "tsched: currency: 'BGN' is not an active ISO 4217 currency code\n",
        ),
        (
            ["--start", "2027-01-31", "--amount", "1e3"],
            "tsched: amount.value: String should match pattern '^-?[0-9]+(\\.[0-9]+)?$'\n",
        ),
        (
            ["--start", "2027-01-31", "--frequency", "weekly", "--weekdays", "MO,XX"],
            "tsched: recurrence.weekdays.1: Input should be 'MO', 'TU', 'WE', 'TH', 'FR',"
            " 'SA' or 'SU'\n",
        ),
        (
            ["--start", "2027-01-31", "--frequency", "monthly", "--until", "2027-01-30"],
            "tsched: until: the recurrence ends before its first occurrence\n",
        ),
        (
            ["--start", "2027-01-31", "--reminders", "P1M"],
            "tsched: reminders: 'P1M' is not an ISO 8601 duration of weeks, days, hours or"
            " minutes such as P3D or PT1H\n",
        ),
        (
            ["--start", "2027-01-31", "--calendar", "ZZ"],
            "tsched: calendar: 'ZZ' is not a known calendar: use an ISO 3166 country code,"
            " optionally with a subdivision (GB-ENG, US-NY, DE-BY), or a market (TARGET, NYSE)\n",
        ),
    ],
)
def test_invalid_input_exits_2_with_the_reason_on_stderr(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    status, out, err = run(capsys, "preview", *flags, *AFTER)
    assert (status, out, err) == (2, "", message)


def test_a_naive_after_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "preview", "--start", "2027-01-31", "--after", "2027-01-01")
    assert status == 2
    assert err == "tsched: after must carry a time zone offset\n"


def test_a_missing_file_exits_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "preview", "--file", "/nonexistent/schedule.json", *AFTER)
    assert status == 2
    assert err.startswith("tsched: [Errno 2] No such file or directory")


def test_a_negative_count_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "preview", "--start", "2027-01-31", "-n", "-1", *AFTER)
    assert exit_info.value.code == 2


@pytest.mark.parametrize("command", ["preview", "examples"])
def test_a_count_above_the_apis_preview_cap_is_refused_naming_the_cap(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, command, *MORTGAGE_FLAGS[: 4 if command == "preview" else 0], "-n", "121")

    assert exit_info.value.code == 2
    _, err = capsys.readouterr()
    assert err.endswith(
        "error: argument -n/--count: at most 120 executions per preview (the HTTP API's cap too)\n"
    )


def test_a_count_at_the_preview_cap_lists_that_many_executions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "preview", *MORTGAGE_FLAGS, *AFTER, "-n", "120", "--json")

    assert status == 0
    assert len(json.loads(out)) == plan.MAX_PREVIEW == 120


def test_the_cli_and_the_http_api_cap_previews_at_the_one_constant(tmp_path: Path) -> None:
    runtime = migrated_runtime(tmp_path)
    try:
        schema = create_app(runtime).openapi()
    finally:
        runtime.close()
    (count,) = (
        parameter
        for parameter in schema["paths"]["/v1/schedules/preview"]["post"]["parameters"]
        if parameter["name"] == "count"
    )

    assert count["schema"]["maximum"] == plan.MAX_PREVIEW


def test_a_file_that_is_not_json_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    status, _, err = run(capsys, "preview", "--file", str(path), *AFTER)
    assert status == 2
    assert err.startswith("tsched: document: Invalid JSON")


def test_a_json_number_amount_in_a_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "float.json"
    document: dict[str, Any] = {**MORTGAGE_DOCUMENT, "amount": {"value": 1250.0, "currency": "GBP"}}
    path.write_text(json.dumps(document), encoding="utf-8")
    status, _, err = run(capsys, "preview", "--file", str(path), *AFTER)
    assert (status, err) == (2, "tsched: amount.value: Input should be a valid string\n")


def test_an_unknown_frequency_is_refused_by_argument_parsing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["preview", "--start", "2027-01-31", "--frequency", "fortnightly"])
    assert exited.value.code == 2
    assert "invalid choice: 'fortnightly'" in capsys.readouterr().err


def test_examples_json_previews_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "examples", "--json", *AFTER, "-n", "3")
    assert (status, err) == (0, "")
    previews = json.loads(out)
    assert [p["title"] for p in previews] == [title for title, _ in demo.EXAMPLES]
    assert [p["schedule"] for p in previews] == [document for _, document in demo.EXAMPLES]
    assert [len(p["executions"]) for p in previews] == [3, 3, 3, 1]
    mortgage, savings, insurance, yen = (p["executions"] for p in previews)
    assert [e["execution_date"] for e in mortgage] == ["2027-01-29", "2027-02-26", "2027-03-31"]
    assert savings[1]["execute_at_local"] == "2027-03-14T03:30:00-04:00"
    assert savings[1]["dst_resolution"] == "shifted_forward"
    assert [(e["nominal_date"], e["execution_date"]) for e in insurance] == [
        ("2027-01-30", "2027-02-01"),
        ("2027-04-30", "2027-04-30"),
        ("2027-07-30", "2027-07-30"),
    ]
    assert (yen[0]["execution_date"], yen[0]["execute_at_utc"]) == (
        "2027-12-27",
        "2027-12-27T01:00:00Z",
    )


def test_examples_prints_a_titled_table_per_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "examples", *AFTER, "-n", "1")
    assert status == 0
    titles = [line.removeprefix("== ") for line in out.splitlines() if line.startswith("== ")]
    assert titles == [title for title, _ in demo.EXAMPLES]
