"""Retry and missed-run policies (DESIGN.md §3 "Failures" and "Missed runs"): the
backoff after a transient failure, the next business morning after insufficient funds,
the grace windows after downtime, and what a person is told to do about a failure."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.domain.calendar import BusinessCalendar
from scheduler.domain.retry import (
    DEFAULT_ACTION,
    RECOMMENDED_ACTIONS,
    MissedRunPolicy,
    RetryPolicy,
    recommended_action,
)

LONDON = ZoneInfo("Europe/London")
ENGLAND = BusinessCalendar(calendar_id="GB-ENG")
WEEKENDS_ONLY = BusinessCalendar()
POLICY = RetryPolicy()
FLOOR = timedelta(milliseconds=500)
CAP = timedelta(minutes=10)


def _seeded(seed: int) -> random.Random:
    # Jitter needs a reproducible generator, not a cryptographic one.
    return random.Random(seed)  # noqa: S311


class _FixedDraw(random.Random):
    """A generator whose `random()` always returns `value`: pins the jitter."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- transient backoff: capped exponential with full jitter -------------------------


def test_the_default_policy_is_two_seconds_doubling_to_ten_minutes_with_half_a_second_floor() -> (
    None
):
    assert (POLICY.base, POLICY.cap, POLICY.floor) == (timedelta(seconds=2), CAP, FLOOR)
    assert (POLICY.max_transient_attempts, POLICY.max_insufficient_funds_attempts) == (8, 3)
    assert POLICY.business_morning == time(8, 0)


#: Failure n -> min(cap, 2 s * 2**(n-1)): the upper bound of its delay.
CEILINGS = {
    1: timedelta(seconds=2),
    2: timedelta(seconds=4),
    3: timedelta(seconds=8),
    4: timedelta(seconds=16),
    5: timedelta(seconds=32),
    6: timedelta(seconds=64),
    7: timedelta(seconds=128),
    8: timedelta(seconds=256),
    9: timedelta(seconds=512),
    10: CAP,  # 1024 s, capped
    11: CAP,
}


@pytest.mark.parametrize(("failures", "ceiling"), CEILINGS.items())
def test_the_delay_after_failure_n_lies_between_the_floor_and_the_doubled_ceiling(
    failures: int, ceiling: timedelta
) -> None:
    rng = _seeded(failures)
    delays = [POLICY.transient_delay(failures, rng) for _ in range(2000)]
    assert all(FLOOR <= delay <= ceiling for delay in delays)
    # Full jitter spreads over the whole range: the top tenth is reached.
    assert max(delays) > ceiling * 0.9


@pytest.mark.parametrize(("failures", "ceiling"), CEILINGS.items())
def test_the_delay_is_the_ceiling_scaled_by_the_random_draw(
    failures: int, ceiling: timedelta
) -> None:
    assert POLICY.transient_delay(failures, _FixedDraw(0.5)) == max(FLOOR, ceiling / 2)
    assert POLICY.transient_delay(failures, _FixedDraw(0.999)) == ceiling * 0.999


@pytest.mark.parametrize("failures", [1, 5, 11])
def test_a_tiny_random_draw_is_raised_to_the_floor(failures: int) -> None:
    assert POLICY.transient_delay(failures, _FixedDraw(0.0)) == FLOOR
    assert POLICY.transient_delay(failures, _FixedDraw(0.0001)) == FLOOR


def test_the_first_failures_often_wait_exactly_the_floor() -> None:
    # After failure 1 the ceiling is 2 s: a quarter of the draws fall below 0.5 s.
    rng = _seeded(1)
    delays = [POLICY.transient_delay(1, rng) for _ in range(1000)]
    assert 150 < delays.count(FLOOR) < 350


@pytest.mark.parametrize("failures", [10, 11, 30, 31, 32, 64, 1000, 10**6])
def test_the_delay_never_exceeds_the_cap_however_many_failures(failures: int) -> None:
    assert POLICY.transient_delay(failures, _FixedDraw(0.9999999)) <= CAP
    rng = _seeded(failures)
    assert all(POLICY.transient_delay(failures, rng) <= CAP for _ in range(200))


def test_the_delay_follows_a_policys_own_base_cap_and_floor() -> None:
    policy = RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=5), floor=timedelta(0))
    assert policy.transient_delay(1, _FixedDraw(0.5)) == timedelta(seconds=0.5)
    assert policy.transient_delay(3, _FixedDraw(0.5)) == timedelta(seconds=2)
    assert policy.transient_delay(4, _FixedDraw(0.5)) == timedelta(seconds=2.5)  # 8 s capped
    assert policy.transient_delay(4, _FixedDraw(0.0)) == timedelta(0)


def test_the_delays_are_reproducible_from_a_seed() -> None:
    first = [POLICY.transient_delay(n, _seeded(42)) for n in range(1, 12)]
    again = [POLICY.transient_delay(n, _seeded(42)) for n in range(1, 12)]
    other = [POLICY.transient_delay(n, _seeded(43)) for n in range(1, 12)]
    assert first == again
    assert first != other


def test_one_generator_gives_successive_delays_in_a_reproducible_sequence() -> None:
    one, two = _seeded(7), _seeded(7)
    first = [POLICY.transient_delay(8, one) for _ in range(5)]
    assert first == [POLICY.transient_delay(8, two) for _ in range(5)]
    # Jitter: successive draws differ (a 256 s range; the floor is not in play).
    assert len(set(first)) == 5


# --- insufficient funds: the next business morning in the schedule's zone ----------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Monday morning -> Tuesday 08:00 (GMT in January).
        (_utc(2027, 1, 4, 9, 0), _utc(2027, 1, 5, 8, 0)),
        # Friday -> Monday, over the weekend.
        (_utc(2027, 1, 8, 9, 0), _utc(2027, 1, 11, 8, 0)),
        # Saturday and Sunday -> Monday.
        (_utc(2027, 1, 9, 12, 0), _utc(2027, 1, 11, 8, 0)),
        (_utc(2027, 1, 10, 23, 59), _utc(2027, 1, 11, 8, 0)),
    ],
    ids=["monday-to-tuesday", "friday-to-monday", "saturday-to-monday", "sunday-to-monday"],
)
def test_the_next_business_morning_skips_weekends(now: datetime, expected: datetime) -> None:
    assert POLICY.next_business_morning(now, WEEKENDS_ONLY, LONDON) == expected


def test_the_next_business_morning_skips_the_easter_holidays_of_the_calendar() -> None:
    # Thu 25 Mar 2027; Good Friday 26th, weekend, Easter Monday 29th (clocks went
    # forward on Sunday 28th): Tuesday 30th at 08:00 BST.
    now = _utc(2027, 3, 25, 9, 0)
    assert ENGLAND.holiday_name(date(2027, 3, 26)) == "Good Friday"
    assert POLICY.next_business_morning(now, ENGLAND, LONDON) == _utc(2027, 3, 30, 7, 0)


def test_the_next_business_morning_skips_substitute_christmas_holidays() -> None:
    # Fri 24 Dec 2027; Christmas and Boxing Day fall on the weekend and are observed on
    # Mon 27th and Tue 28th.
    now = _utc(2027, 12, 24, 9, 0)
    assert POLICY.next_business_morning(now, ENGLAND, LONDON) == _utc(2027, 12, 29, 8, 0)


def test_a_holiday_of_another_calendar_is_a_business_day() -> None:
    # Good Friday is a working day on a weekends-only calendar.
    now = _utc(2027, 3, 25, 9, 0)
    assert POLICY.next_business_morning(now, WEEKENDS_ONLY, LONDON) == _utc(2027, 3, 26, 8, 0)


def test_the_next_business_morning_follows_a_us_calendar_and_zone() -> None:
    # Fri 2 Jul 2027; Independence Day (Sun 4th) is observed Mon 5th: Tue 6th 08:00 EDT.
    new_york = BusinessCalendar(calendar_id="US-NY")
    now = _utc(2027, 7, 2, 14, 0)
    assert POLICY.next_business_morning(now, new_york, ZoneInfo("America/New_York")) == _utc(
        2027, 7, 6, 12, 0
    )


def test_the_day_counts_from_the_schedules_zone_not_from_utc() -> None:
    # Mon 4 Jan 23:30 UTC is already Tuesday 08:30 in Tokyo: next is Wednesday 08:00 JST.
    now = _utc(2027, 1, 4, 23, 30)
    assert POLICY.next_business_morning(now, WEEKENDS_ONLY, ZoneInfo("Asia/Tokyo")) == _utc(
        2027, 1, 5, 23, 0
    )
    # Tue 5 Jan 03:00 UTC is still Monday 22:00 in New York: next is Tuesday 08:00 EST.
    now = _utc(2027, 1, 5, 3, 0)
    assert POLICY.next_business_morning(now, WEEKENDS_ONLY, ZoneInfo("America/New_York")) == _utc(
        2027, 1, 5, 13, 0
    )


def test_the_next_business_morning_is_a_later_day_even_before_todays_morning() -> None:
    # Monday 06:00 London: Monday 08:00 is still ahead, but the retry waits for Tuesday
    # (the next business *day*'s morning, as the docstring says).
    now = _utc(2027, 1, 4, 6, 0)
    assert POLICY.next_business_morning(now, WEEKENDS_ONLY, LONDON) == _utc(2027, 1, 5, 8, 0)


def test_the_next_business_morning_after_the_clocks_go_forward_is_08_00_bst() -> None:
    # Fri 26 Mar 2027 (GMT) -> Mon 29 Mar 08:00 BST = 07:00 UTC.
    now = _utc(2027, 3, 26, 9, 0)
    assert POLICY.next_business_morning(now, WEEKENDS_ONLY, LONDON) == _utc(2027, 3, 29, 7, 0)


def test_the_next_business_morning_after_the_clocks_go_back_is_08_00_gmt() -> None:
    # Fri 29 Oct 2027 (BST) -> Mon 1 Nov 08:00 GMT = 08:00 UTC.
    now = _utc(2027, 10, 29, 8, 0)
    assert POLICY.next_business_morning(now, WEEKENDS_ONLY, LONDON) == _utc(2027, 11, 1, 8, 0)


def test_a_business_morning_in_the_dst_gap_moves_forward_by_the_gap() -> None:
    # A Sunday-working calendar and a 01:30 morning: on Sun 28 Mar 2027 London jumps
    # from 01:00 GMT to 02:00 BST, so 01:30 becomes 02:30 BST = 01:30 UTC.
    policy = RetryPolicy(business_morning=time(1, 30))
    sunday_working = BusinessCalendar(weekend=frozenset({6}))
    now = _utc(2027, 3, 27, 9, 0)
    assert policy.next_business_morning(now, sunday_working, LONDON) == _utc(2027, 3, 28, 1, 30)


def test_an_ambiguous_business_morning_takes_the_first_of_the_two_instants() -> None:
    # On Sun 31 Oct 2027 01:30 happens twice in London; the first is 01:30 BST = 00:30 UTC.
    policy = RetryPolicy(business_morning=time(1, 30))
    sunday_working = BusinessCalendar(weekend=frozenset({6}))
    now = _utc(2027, 10, 30, 9, 0)
    assert policy.next_business_morning(now, sunday_working, LONDON) == _utc(2027, 10, 31, 0, 30)


ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Pacific/Apia"]


@given(
    now=st.datetimes(
        # Hypothesis takes naive bounds and attaches the zone itself.
        min_value=datetime.combine(date(2026, 1, 1), time()),
        max_value=datetime.combine(date(2030, 12, 31), time()),
        timezones=st.just(UTC),
    ),
    zone_name=st.sampled_from(ZONES),
)
def test_the_next_business_morning_is_the_first_later_business_day_at_08_00_local(
    now: datetime, zone_name: str
) -> None:
    tz = ZoneInfo(zone_name)
    morning = POLICY.next_business_morning(now, ENGLAND, tz)
    local = morning.astimezone(tz)
    assert morning.utcoffset() == timedelta(0)
    assert morning > now
    assert local.time() == time(8, 0)
    assert ENGLAND.is_business_day(local.date())
    day = now.astimezone(tz).date() + timedelta(days=1)
    while day < local.date():
        assert not ENGLAND.is_business_day(day), day
        day += timedelta(days=1)


# --- missed runs: grace windows after downtime -----------------------------------------

DUE = _utc(2027, 1, 29, 9, 0)
TICK = timedelta(microseconds=1)
MISSED = MissedRunPolicy()


def test_the_default_grace_windows_are_four_hours_and_thirty_minutes() -> None:
    assert MISSED.execution_grace == timedelta(hours=4)
    assert MISSED.reminder_grace == timedelta(minutes=30)


@pytest.mark.parametrize(
    "late_by",
    [-timedelta(hours=1), timedelta(0), timedelta(hours=1), timedelta(hours=4)],
    ids=["early", "on-time", "1h-late", "exactly-4h-late"],
)
def test_an_execution_up_to_four_hours_late_is_not_missed(late_by: timedelta) -> None:
    assert not MISSED.execution_missed(DUE, DUE + late_by)


@pytest.mark.parametrize(
    "late_by",
    [timedelta(hours=4) + TICK, timedelta(hours=4, seconds=1), timedelta(days=3)],
    ids=["4h-plus-1us", "4h-plus-1s", "3-days"],
)
def test_an_execution_more_than_four_hours_late_is_missed(late_by: timedelta) -> None:
    assert MISSED.execution_missed(DUE, DUE + late_by)


@pytest.mark.parametrize(
    "late_by",
    [-timedelta(minutes=5), timedelta(0), timedelta(minutes=29), timedelta(minutes=30)],
    ids=["early", "on-time", "29min-late", "exactly-30min-late"],
)
def test_a_reminder_up_to_thirty_minutes_late_is_not_stale(late_by: timedelta) -> None:
    assert not MISSED.reminder_stale(DUE, DUE + late_by)


@pytest.mark.parametrize(
    "late_by",
    [timedelta(minutes=30) + TICK, timedelta(minutes=31), timedelta(hours=4)],
    ids=["30min-plus-1us", "31min", "4h"],
)
def test_a_reminder_more_than_thirty_minutes_late_is_stale(late_by: timedelta) -> None:
    assert MISSED.reminder_stale(DUE, DUE + late_by)


def test_the_grace_windows_compare_instants_not_wall_clock_times() -> None:
    # 09:00 UTC due, 14:00+01:00 now: 4 hours later, not 5.
    now = datetime(2027, 1, 29, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert not MISSED.execution_missed(DUE, now)
    assert MISSED.execution_missed(DUE, now + TICK)


def test_a_policy_with_other_grace_windows_uses_them() -> None:
    policy = MissedRunPolicy(
        execution_grace=timedelta(minutes=10), reminder_grace=timedelta(minutes=1)
    )
    assert not policy.execution_missed(DUE, DUE + timedelta(minutes=10))
    assert policy.execution_missed(DUE, DUE + timedelta(minutes=10) + TICK)
    assert not policy.reminder_stale(DUE, DUE + timedelta(minutes=1))
    assert policy.reminder_stale(DUE, DUE + timedelta(minutes=1) + TICK)


# --- recommended actions -------------------------------------------------------------

#: Each failure code the engine or a gateway reports, and what its advice must mention.
ADVICE = {
    "insufficient_funds": "add funds",
    "account_closed": "account is closed",
    "unknown_account": "Check the account numbers",
    "currency_mismatch": "currency differs",
    "gateway_unavailable": "gateway's health",
    "missed_execution_window": "grace window",
    "attempts_exhausted": "worker logs",
}


def test_every_known_failure_code_has_its_own_advice() -> None:
    assert set(RECOMMENDED_ACTIONS) == set(ADVICE)


@pytest.mark.parametrize(("code", "phrase"), ADVICE.items())
def test_a_known_failure_code_gets_its_specific_advice(code: str, phrase: str) -> None:
    action = recommended_action(code)
    assert phrase in action
    assert action != DEFAULT_ACTION


@pytest.mark.parametrize("code", ["limit_exceeded", "", None])
def test_an_unknown_or_missing_code_gets_the_default_advice(code: str | None) -> None:
    assert recommended_action(code) == DEFAULT_ACTION
    assert "re-drive or cancel" in DEFAULT_ACTION
