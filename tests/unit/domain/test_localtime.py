"""The DST rule: a missing local time moves forward by the gap, a doubled one takes the first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from scheduler.domain import errors, localtime

Resolution = localtime.Resolution
EXACT = Resolution.EXACT
SHIFTED = Resolution.SHIFTED_FORWARD
FIRST = Resolution.FIRST_OF_TWO

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


@pytest.mark.parametrize(
    ("zone", "utc", "offset_before", "offset_after"),
    [
        # London: 01:00 GMT -> 02:00 BST on 28 March, 02:00 BST -> 01:00 GMT on 31 October.
        (LONDON, datetime(2027, 3, 28, 1, 0, tzinfo=UTC), timedelta(0), timedelta(hours=1)),
        (LONDON, datetime(2027, 10, 31, 1, 0, tzinfo=UTC), timedelta(hours=1), timedelta(0)),
        # New York: 02:00 EST -> 03:00 EDT on 14 March, 02:00 EDT -> 01:00 EST on 7 November.
        (
            NEW_YORK,
            datetime(2027, 3, 14, 7, 0, tzinfo=UTC),
            timedelta(hours=-5),
            timedelta(hours=-4),
        ),
        (
            NEW_YORK,
            datetime(2027, 11, 7, 6, 0, tzinfo=UTC),
            timedelta(hours=-4),
            timedelta(hours=-5),
        ),
        # Lord Howe, half-hour steps: 02:00 (+11) -> 01:30 (+10:30) on Sunday 4 April,
        # 02:00 (+10:30) -> 02:30 (+11) on Sunday 3 October.
        (
            LORD_HOWE,
            datetime(2027, 4, 3, 15, 0, tzinfo=UTC),
            timedelta(hours=11),
            timedelta(hours=10, minutes=30),
        ),
        (
            LORD_HOWE,
            datetime(2027, 10, 2, 15, 30, tzinfo=UTC),
            timedelta(hours=10, minutes=30),
            timedelta(hours=11),
        ),
    ],
)
def test_the_time_zone_data_has_the_2027_transitions_these_tests_rely_on(
    zone: ZoneInfo, utc: datetime, offset_before: timedelta, offset_after: timedelta
) -> None:
    assert (utc - timedelta(seconds=1)).astimezone(zone).utcoffset() == offset_before
    assert utc.astimezone(zone).utcoffset() == offset_after


@pytest.mark.parametrize(
    ("zone", "wall", "local", "utc", "resolution"),
    [
        # London, spring forward on Sunday 28 March 2027: 01:00-01:59 do not exist.
        (LONDON, "2027-03-28T00:59", "2027-03-28T00:59+00:00", "2027-03-28T00:59Z", EXACT),
        (LONDON, "2027-03-28T01:00", "2027-03-28T02:00+01:00", "2027-03-28T01:00Z", SHIFTED),
        (LONDON, "2027-03-28T01:30", "2027-03-28T02:30+01:00", "2027-03-28T01:30Z", SHIFTED),
        (LONDON, "2027-03-28T01:59", "2027-03-28T02:59+01:00", "2027-03-28T01:59Z", SHIFTED),
        (LONDON, "2027-03-28T02:00", "2027-03-28T02:00+01:00", "2027-03-28T01:00Z", EXACT),
        # London, fall back on Sunday 31 October 2027: 01:00-01:59 happen twice.
        (LONDON, "2027-10-31T00:59", "2027-10-31T00:59+01:00", "2027-10-30T23:59Z", EXACT),
        (LONDON, "2027-10-31T01:00", "2027-10-31T01:00+01:00", "2027-10-31T00:00Z", FIRST),
        (LONDON, "2027-10-31T01:30", "2027-10-31T01:30+01:00", "2027-10-31T00:30Z", FIRST),
        (LONDON, "2027-10-31T01:59", "2027-10-31T01:59+01:00", "2027-10-31T00:59Z", FIRST),
        (LONDON, "2027-10-31T02:00", "2027-10-31T02:00+00:00", "2027-10-31T02:00Z", EXACT),
        # New York, spring forward on Sunday 14 March 2027: 02:00-02:59 do not exist.
        (NEW_YORK, "2027-03-14T01:59", "2027-03-14T01:59-05:00", "2027-03-14T06:59Z", EXACT),
        (NEW_YORK, "2027-03-14T02:30", "2027-03-14T03:30-04:00", "2027-03-14T07:30Z", SHIFTED),
        (NEW_YORK, "2027-03-14T03:00", "2027-03-14T03:00-04:00", "2027-03-14T07:00Z", EXACT),
        # New York, fall back on Sunday 7 November 2027: 01:00-01:59 happen twice.
        (NEW_YORK, "2027-11-07T00:59", "2027-11-07T00:59-04:00", "2027-11-07T04:59Z", EXACT),
        (NEW_YORK, "2027-11-07T01:30", "2027-11-07T01:30-04:00", "2027-11-07T05:30Z", FIRST),
        (NEW_YORK, "2027-11-07T02:00", "2027-11-07T02:00-05:00", "2027-11-07T07:00Z", EXACT),
        # Lord Howe, DST starts Sunday 3 October 2027: 02:00-02:29 do not exist.
        (LORD_HOWE, "2027-10-03T01:59", "2027-10-03T01:59+10:30", "2027-10-02T15:29Z", EXACT),
        (LORD_HOWE, "2027-10-03T02:00", "2027-10-03T02:30+11:00", "2027-10-02T15:30Z", SHIFTED),
        (LORD_HOWE, "2027-10-03T02:15", "2027-10-03T02:45+11:00", "2027-10-02T15:45Z", SHIFTED),
        (LORD_HOWE, "2027-10-03T02:29", "2027-10-03T02:59+11:00", "2027-10-02T15:59Z", SHIFTED),
        (LORD_HOWE, "2027-10-03T02:30", "2027-10-03T02:30+11:00", "2027-10-02T15:30Z", EXACT),
        # Lord Howe, DST ends Sunday 4 April 2027: 01:30-01:59 happen twice.
        (LORD_HOWE, "2027-04-04T01:29", "2027-04-04T01:29+11:00", "2027-04-03T14:29Z", EXACT),
        (LORD_HOWE, "2027-04-04T01:30", "2027-04-04T01:30+11:00", "2027-04-03T14:30Z", FIRST),
        (LORD_HOWE, "2027-04-04T01:45", "2027-04-04T01:45+11:00", "2027-04-03T14:45Z", FIRST),
        (LORD_HOWE, "2027-04-04T02:00", "2027-04-04T02:00+10:30", "2027-04-03T15:30Z", EXACT),
    ],
)
def test_local_times_around_dst_transitions_resolve_by_the_written_rule(
    zone: tzinfo, wall: str, local: str, utc: str, resolution: Resolution
) -> None:
    moment = datetime.fromisoformat(wall)
    resolved = localtime.resolve(moment.date(), moment.time(), zone)
    assert resolved.local.isoformat(timespec="minutes") == local
    assert resolved.utc.strftime("%Y-%m-%dT%H:%MZ") == utc
    assert resolved.resolution is resolution
    assert resolved.utc.tzinfo is UTC
    assert resolved.local.tzinfo is zone
    assert localtime.to_utc(moment.date(), moment.time(), zone) == resolved.utc


def test_an_ordinary_day_is_exact() -> None:
    resolved = localtime.resolve(date(2027, 7, 1), time(9, 0), LONDON)
    assert resolved.utc == datetime(2027, 7, 1, 8, 0, tzinfo=UTC)
    assert resolved.resolution is EXACT


def test_fold_and_offset_on_the_time_given_are_ignored() -> None:
    at = time(1, 30, fold=1, tzinfo=timezone(timedelta(hours=5)))
    resolved = localtime.resolve(date(2027, 10, 31), at, LONDON)
    assert resolved.utc == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert resolved.resolution is FIRST


def test_zone_looks_up_iana_names() -> None:
    assert localtime.zone("Europe/London") is localtime.zone("Europe/London")
    assert localtime.zone("Australia/Lord_Howe").key == "Australia/Lord_Howe"


@pytest.mark.parametrize("name", ["Mars/Base", "", "../../etc/passwd", "Europe/london "])
def test_an_unknown_zone_is_rejected(name: str) -> None:
    with pytest.raises(errors.UnknownTimeZone) as raised:
        localtime.zone(name)
    assert raised.value.field == "time_zone"
    assert raised.value.details["time_zone"] == name


def test_require_aware_rejects_a_naive_datetime_naming_the_field() -> None:
    with pytest.raises(errors.NaiveDatetime) as raised:
        localtime.require_aware(datetime(2027, 1, 1, 9, 0), field="after")  # noqa: DTZ001
    assert raised.value.field == "after"
    assert raised.value.code == "naive_datetime"


def test_require_aware_rejects_a_zone_that_gives_no_offset() -> None:
    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> None:
            return None

    with pytest.raises(errors.NaiveDatetime):
        localtime.require_aware(datetime(2027, 1, 1, tzinfo=NoOffset()))


def test_require_aware_returns_the_same_instant_in_utc() -> None:
    moment = datetime(2027, 7, 1, 9, 0, tzinfo=LONDON)
    assert localtime.require_aware(moment) == datetime(2027, 7, 1, 8, 0, tzinfo=UTC)
    assert localtime.require_aware(moment).tzinfo is UTC


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(minutes=1))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(minutes=-1))),
    ],
)
def test_require_aware_refuses_an_instant_with_no_utc_equivalent(moment: datetime) -> None:
    with pytest.raises(errors.InstantOutOfRange) as raised:
        localtime.require_aware(moment, field="from")

    assert raised.value.field == "from"
