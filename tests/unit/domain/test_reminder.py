"""Reminder offsets: ISO 8601 durations before an execution, days on the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.domain import errors, reminder

ReminderOffset = reminder.ReminderOffset
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "days", "elapsed", "canonical"),
    [
        ("P3D", 3, timedelta(0), "P3D"),
        ("P1D", 1, timedelta(0), "P1D"),
        ("PT1H", 0, timedelta(hours=1), "PT1H"),
        ("P1W", 7, timedelta(0), "P7D"),
        ("P2W3D", 17, timedelta(0), "P17D"),
        ("P1DT12H", 1, timedelta(hours=12), "P1DT12H"),
        ("PT90M", 0, timedelta(minutes=90), "PT1H30M"),
        ("PT24H", 0, timedelta(hours=24), "PT24H"),
        ("PT1M", 0, timedelta(minutes=1), "PT1M"),
        ("P1DT0H", 1, timedelta(0), "P1D"),
        ("P366D", 366, timedelta(0), "P366D"),
        ("P52W", 364, timedelta(0), "P364D"),
    ],
)
def test_parse_reads_weeks_days_hours_and_minutes(
    text: str, days: int, elapsed: timedelta, canonical: str
) -> None:
    offset = ReminderOffset.parse(text)
    assert offset == ReminderOffset(days=days, elapsed=elapsed)
    assert offset.isoformat() == canonical
    assert str(offset) == canonical
    assert ReminderOffset.parse(canonical) == offset


@pytest.mark.parametrize(
    "text",
    [
        "P1M",
        "P1Y",
        "P1Y2D",
        "",
        "P",
        "PT",
        "P1DT",
        "1D",
        "p1d",
        "P1H",
        "PT1D",
        "P1.5D",
        "P0,5D",
        "-P1D",
        " P1D",
        "P1D ",
        "PT1S",
        "P\u0663D",  # an Arabic-Indic 3: only ASCII digits are ISO 8601
    ],
)
def test_parse_rejects_what_is_not_a_duration_of_weeks_days_hours_or_minutes(text: str) -> None:
    with pytest.raises(errors.InvalidReminder, match="is not an ISO 8601 duration") as raised:
        ReminderOffset.parse(text)
    assert raised.value.field == "reminders"
    assert raised.value.code == "invalid_reminder"


@pytest.mark.parametrize(
    "text", ["P0D", "PT0M", "P0W0DT0H0M", "P400D", "P367D", "P53W", "PT8785H", "P9999999999D"]
)
def test_parse_rejects_offsets_outside_one_minute_to_366_days(text: str) -> None:
    # "P9999999999D" raised OverflowError from timedelta before the fix.
    with pytest.raises(errors.InvalidReminder, match="between 1 minute and 366 days") as raised:
        ReminderOffset.parse(text)
    assert raised.value.field == "reminders"


def test_parse_rejects_what_is_not_text() -> None:
    with pytest.raises(errors.InvalidReminder):
        ReminderOffset.parse(3)  # the API gives strings; a number must not slip through


def test_nominal_length_counts_every_day_as_24_hours() -> None:
    assert ReminderOffset.parse("P1DT12H").nominal_length == timedelta(hours=36)
    assert (
        ReminderOffset.parse("P1D").nominal_length == ReminderOffset.parse("PT24H").nominal_length
    )
    assert ReminderOffset.parse("P1D") != ReminderOffset.parse("PT24H")


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("execution_local", "text", "due_at"),
    [
        # Spring forward: the day before a 09:00 BST payment (08:00Z) is on GMT.
        (datetime(2027, 3, 28, 9, 0, tzinfo=LONDON), "P1D", _utc(2027, 3, 27, 9, 0)),
        (datetime(2027, 3, 28, 9, 0, tzinfo=LONDON), "PT24H", _utc(2027, 3, 27, 8, 0)),
        (datetime(2027, 3, 28, 9, 0, tzinfo=LONDON), "P1DT1H", _utc(2027, 3, 27, 8, 0)),
        (datetime(2027, 3, 29, 9, 0, tzinfo=LONDON), "P3D", _utc(2027, 3, 26, 9, 0)),
        # Fall back: the day before a 09:00 GMT payment is on BST.
        (datetime(2027, 10, 31, 9, 0, tzinfo=LONDON), "P1D", _utc(2027, 10, 30, 8, 0)),
        (datetime(2027, 10, 31, 9, 0, tzinfo=LONDON), "PT24H", _utc(2027, 10, 30, 9, 0)),
        # Days back onto a missing time move forward by the gap; onto a doubled one, the first.
        (datetime(2027, 3, 29, 1, 30, tzinfo=LONDON), "P1D", _utc(2027, 3, 28, 1, 30)),
        (datetime(2027, 11, 1, 1, 30, tzinfo=LONDON), "P1D", _utc(2027, 10, 31, 0, 30)),
        # Hours are elapsed time, whatever the wall clock does.
        (datetime(2027, 3, 28, 2, 30, tzinfo=LONDON), "PT1H", _utc(2027, 3, 28, 0, 30)),
        (datetime(2027, 10, 31, 2, 0, tzinfo=LONDON), "PT90M", _utc(2027, 10, 31, 0, 30)),
    ],
)
def test_before_moves_days_on_the_wall_clock_then_subtracts_elapsed_time(
    execution_local: datetime, text: str, due_at: datetime
) -> None:
    assert ReminderOffset.parse(text).before(execution_local, LONDON) == due_at


def test_default_offsets_are_three_days_one_day_and_one_hour() -> None:
    assert reminder.DEFAULT_OFFSETS == ("P3D", "P1D", "PT1H")
