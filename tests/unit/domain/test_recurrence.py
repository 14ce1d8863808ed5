"""Recurrence rules: the nominal dates a schedule falls on, before business-day adjustment."""

from __future__ import annotations

import calendar as gregorian
import dataclasses
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, date, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain import errors, recurrence

Frequency = recurrence.Frequency
Recurrence = recurrence.Recurrence
MakeRecurrence = Callable[..., Recurrence]

MO, TU, WE, TH, FR, SA, SU = range(1, 8)


def first(rule: Recurrence, n: int) -> list[date]:
    """The first `n` nominal dates of `rule` (fewer if it ends sooner)."""
    return [day for _, day in itertools.islice(rule.dates(), n)]


# Month ends.


def test_monthly_on_31st_clamps_to_end_of_february_in_a_leap_year(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2028, 1, 31), day_of_month=31)
    assert first(rule, 6) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
        date(2028, 5, 31),
        date(2028, 6, 30),
    ]


def test_monthly_on_31st_clamps_to_28_february_in_a_common_year_and_returns_to_the_31st(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 1, 31))
    assert first(rule, 4) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]


def test_monthly_on_day_minus_one_is_the_last_day_of_every_month(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 12, 15), day_of_month=-1)
    assert first(rule, 4) == [
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]


def test_monthly_on_a_day_already_past_in_the_start_month_begins_next_month(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 1, 31), day_of_month=30)
    assert first(rule, 3) == [date(2027, 2, 28), date(2027, 3, 30), date(2027, 4, 30)]


def test_quarterly_on_the_30th_passes_through_29_february_in_a_leap_year(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(frequency=Frequency.QUARTERLY, start=date(2027, 11, 30))
    assert first(rule, 5) == [
        date(2027, 11, 30),
        date(2028, 2, 29),
        date(2028, 5, 30),
        date(2028, 8, 30),
        date(2028, 11, 30),
    ]


def test_quarterly_on_the_30th_passes_through_28_february_in_a_common_year(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(frequency=Frequency.QUARTERLY, start=date(2026, 11, 30), day_of_month=30)
    assert first(rule, 3) == [date(2026, 11, 30), date(2027, 2, 28), date(2027, 5, 30)]


def test_yearly_on_29_february_falls_on_28_february_in_common_years(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(frequency=Frequency.YEARLY, start=date(2028, 2, 29))
    assert first(rule, 5) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_yearly_in_a_month_already_past_begins_the_next_year(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(
        frequency=Frequency.YEARLY, start=date(2027, 6, 1), month=3, day_of_month=15, interval=2
    )
    assert first(rule, 3) == [date(2028, 3, 15), date(2030, 3, 15), date(2032, 3, 15)]


def test_monthly_every_second_month_counts_from_the_first_occurrence(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 1, 20), day_of_month=15, interval=2)
    assert first(rule, 3) == [date(2027, 2, 15), date(2027, 4, 15), date(2027, 6, 15)]


# Weeks and days.


def test_weekly_on_several_weekdays_every_two_weeks_starting_mid_week(
    make_recurrence: MakeRecurrence,
) -> None:
    # Wednesday 6 January 2027: the first week keeps only Wednesday and Friday.
    rule = make_recurrence(
        frequency=Frequency.WEEKLY,
        start=date(2027, 1, 6),
        weekdays=frozenset({MO, WE, FR}),
        interval=2,
    )
    assert first(rule, 8) == [
        date(2027, 1, 6),
        date(2027, 1, 8),
        date(2027, 1, 18),
        date(2027, 1, 20),
        date(2027, 1, 22),
        date(2027, 2, 1),
        date(2027, 2, 3),
        date(2027, 2, 5),
    ]


def test_weekly_starting_on_an_unchosen_weekday_begins_at_the_next_chosen_one(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(
        frequency=Frequency.WEEKLY, start=date(2027, 1, 7), weekdays=frozenset({MO, WE, FR})
    )
    assert first(rule, 4) == [
        date(2027, 1, 8),
        date(2027, 1, 11),
        date(2027, 1, 13),
        date(2027, 1, 15),
    ]


def test_weekly_every_two_weeks_starting_after_the_last_chosen_weekday_begins_the_next_week(
    make_recurrence: MakeRecurrence,
) -> None:
    # Friday 8 January 2027: the first payment is the first chosen day on or after the
    # start (Monday 11 January), as for monthly rules; the interval counts from there.
    rule = make_recurrence(
        frequency=Frequency.WEEKLY, start=date(2027, 1, 8), weekdays=frozenset({MO}), interval=2
    )
    assert first(rule, 3) == [date(2027, 1, 11), date(2027, 1, 25), date(2027, 2, 8)]


def test_weekly_without_weekdays_recurs_on_the_start_weekday(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(frequency=Frequency.WEEKLY, start=date(2027, 1, 5))
    assert first(rule, 3) == [date(2027, 1, 5), date(2027, 1, 12), date(2027, 1, 19)]


def test_daily_every_three_days_crosses_the_end_of_february(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(frequency=Frequency.DAILY, start=date(2027, 2, 26), interval=3)
    assert first(rule, 4) == [
        date(2027, 2, 26),
        date(2027, 3, 1),
        date(2027, 3, 4),
        date(2027, 3, 7),
    ]


def test_once_has_exactly_one_occurrence_on_its_start(make_recurrence: MakeRecurrence) -> None:
    rule = make_recurrence(frequency=Frequency.ONCE, start=date(2027, 12, 25), count=1)
    assert list(rule.dates()) == [(0, date(2027, 12, 25))]
    assert rule.occurrence(1) is None


# Ends.


def test_count_ends_the_sequence_after_that_many_occurrences(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 1, 31), count=3)
    assert list(rule.dates()) == [
        (0, date(2027, 1, 31)),
        (1, date(2027, 2, 28)),
        (2, date(2027, 3, 31)),
    ]
    assert rule.occurrence(3) is None


def test_until_is_included_when_it_is_an_occurrence(make_recurrence: MakeRecurrence) -> None:
    weekly = {"frequency": Frequency.WEEKLY, "start": date(2027, 1, 4)}
    assert first(make_recurrence(**weekly, until=date(2027, 1, 25)), 10) == [
        date(2027, 1, 4),
        date(2027, 1, 11),
        date(2027, 1, 18),
        date(2027, 1, 25),
    ]
    assert first(make_recurrence(**weekly, until=date(2027, 1, 24)), 10)[-1] == date(2027, 1, 18)


def test_count_and_until_end_the_sequence_at_whichever_comes_first(
    make_recurrence: MakeRecurrence,
) -> None:
    daily = {"frequency": Frequency.DAILY, "start": date(2027, 1, 1)}
    assert first(make_recurrence(**daily, count=3, until=date(2027, 1, 10)), 20)[-1] == date(
        2027, 1, 3
    )
    assert first(make_recurrence(**daily, count=30, until=date(2027, 1, 10)), 40)[-1] == date(
        2027, 1, 10
    )


def test_until_on_the_first_occurrence_leaves_one_occurrence(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 2, 1), day_of_month=31, until=date(2027, 2, 28))
    assert list(rule.dates()) == [(0, date(2027, 2, 28))]


def test_until_before_the_first_occurrence_is_invalid(make_recurrence: MakeRecurrence) -> None:
    with pytest.raises(errors.InvalidRecurrence) as raised:
        make_recurrence(start=date(2027, 2, 1), day_of_month=31, until=date(2027, 2, 27))
    assert raised.value.field == "until"
    assert raised.value.code == "invalid_recurrence"


def test_a_sequence_ends_quietly_at_the_end_of_the_calendar(
    make_recurrence: MakeRecurrence,
) -> None:
    daily = make_recurrence(frequency=Frequency.DAILY, start=date(9999, 12, 30))
    assert list(daily.dates()) == [(0, date(9999, 12, 30)), (1, date(9999, 12, 31))]
    assert make_recurrence().occurrence(10**9) is None
    assert make_recurrence(frequency=Frequency.WEEKLY).occurrence(10**12) is None


# Invalid rules.


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"interval": 0}, "interval"),
        ({"interval": 1000}, "interval"),
        ({"count": 0}, "count"),
        ({"weekdays": frozenset({MO})}, "weekdays"),
        ({"frequency": Frequency.WEEKLY, "weekdays": frozenset({0, MO})}, "weekdays"),
        ({"frequency": Frequency.WEEKLY, "weekdays": frozenset({8})}, "weekdays"),
        ({"day_of_month": 32}, "day_of_month"),
        ({"day_of_month": 0}, "day_of_month"),
        ({"day_of_month": -2}, "day_of_month"),
        ({"frequency": Frequency.WEEKLY, "day_of_month": 1}, "day_of_month"),
        ({"frequency": Frequency.DAILY, "day_of_month": 1}, "day_of_month"),
        ({"frequency": Frequency.YEARLY, "month": 13}, "month"),
        ({"frequency": Frequency.YEARLY, "month": 0}, "month"),
        ({"month": 3}, "month"),
        ({"frequency": Frequency.ONCE, "count": 2}, "frequency"),
        ({"frequency": Frequency.ONCE, "interval": 2}, "frequency"),
        ({"frequency": Frequency.ONCE, "until": date(2027, 12, 31)}, "frequency"),
        ({"time_of_day": time(9, 0, tzinfo=UTC)}, "time_of_day"),
    ],
)
def test_invalid_rules_name_the_field_at_fault(
    make_recurrence: MakeRecurrence, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.InvalidRecurrence) as raised:
        make_recurrence(**overrides)
    assert raised.value.field == field


def test_an_unknown_time_zone_is_rejected(make_recurrence: MakeRecurrence) -> None:
    with pytest.raises(errors.UnknownTimeZone) as raised:
        make_recurrence(time_zone="Mars/Base")
    assert raised.value.field == "time_zone"


def test_a_negative_occurrence_index_is_a_programming_error(
    make_recurrence: MakeRecurrence,
) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        make_recurrence().occurrence(-1)


# Direct access.


@pytest.mark.parametrize(
    ("day", "index"),
    [
        (date(2026, 6, 1), 0),
        (date(2027, 1, 31), 0),
        (date(2027, 2, 1), 1),
        (date(2027, 2, 28), 1),
        (date(2027, 3, 1), 2),
        (date(2031, 12, 31), 59),
        (date(2032, 1, 1), 60),
    ],
)
def test_first_index_on_or_after_finds_the_first_occurrence_not_before_a_day(
    make_recurrence: MakeRecurrence, day: date, index: int
) -> None:
    assert make_recurrence(start=date(2027, 1, 31)).first_index_on_or_after(day) == index


def test_first_index_on_or_after_the_last_occurrence_is_none(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 1, 31), count=3)
    assert rule.first_index_on_or_after(date(2027, 3, 31)) == 2
    assert rule.first_index_on_or_after(date(2027, 4, 1)) is None
    assert (
        make_recurrence(frequency=Frequency.ONCE).first_index_on_or_after(date(2027, 2, 1)) is None
    )


def test_the_500th_occurrence_is_computed_without_replaying_the_others(
    make_recurrence: MakeRecurrence,
) -> None:
    rule = make_recurrence(start=date(2027, 1, 31))
    assert rule.occurrence(499) == date(2068, 8, 31)
    assert rule.occurrence(13) == date(2028, 2, 29)
    assert list(itertools.islice(rule.dates(from_index=13), 2)) == [
        (13, date(2028, 2, 29)),
        (14, date(2028, 3, 31)),
    ]


# Properties over random rules.

_MONTHS_PER_STEP = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.YEARLY: 12}
_SAMPLE = 60


@st.composite
def rules(draw: st.DrawFn) -> Recurrence:
    """Endless rules of every repeating frequency, starting 2000-2100."""
    frequency = draw(st.sampled_from([f for f in Frequency if f is not Frequency.ONCE]))
    return Recurrence(
        frequency=frequency,
        start=draw(st.dates(date(2000, 1, 1), date(2100, 12, 31))),
        time_of_day=time(9, 0),
        time_zone="UTC",
        interval=draw(st.integers(1, 12)),
        weekdays=(
            draw(st.frozensets(st.integers(1, 7))) if frequency is Frequency.WEEKLY else frozenset()
        ),
        day_of_month=(
            draw(st.none() | st.integers(1, 31) | st.just(-1))
            if frequency in _MONTHS_PER_STEP
            else None
        ),
        month=draw(st.none() | st.integers(1, 12)) if frequency is Frequency.YEARLY else None,
    )


@st.composite
def rules_with_ends(draw: st.DrawFn) -> Recurrence:
    """Rules that may end by count, by an until date, or both."""
    rule = draw(rules())
    sample = first(rule, _SAMPLE)
    until = draw(st.none() | st.sampled_from(sample).map(lambda day: day + timedelta(days=1)))
    count = draw(st.none() | st.integers(1, _SAMPLE))
    return dataclasses.replace(rule, until=until, count=count)


def _reference_dates(rule: Recurrence) -> Iterator[date]:
    """The rule's dates found by walking the calendar, the slow and obvious way."""
    if rule.frequency is Frequency.DAILY:
        day = rule.start
        while True:
            yield day
            day += timedelta(days=rule.interval)
    elif rule.frequency is Frequency.WEEKLY:
        weekdays = sorted(rule.weekdays or {rule.start.isoweekday()})
        start_monday = rule.start - timedelta(days=rule.start.weekday())
        if rule.start.isoweekday() > weekdays[-1]:
            start_monday += timedelta(weeks=1)  # the interval counts from the first payment's week
        for week in itertools.count(0, rule.interval):
            for weekday in weekdays:
                day = start_monday + timedelta(weeks=week, days=weekday - 1)
                if day >= rule.start:
                    yield day
    else:
        wanted_day = rule.day_of_month or rule.start.day
        wanted_month = rule.month or rule.start.month
        months = rule.start.year * 12 + rule.start.month - 1
        step = _MONTHS_PER_STEP[rule.frequency] * rule.interval
        found_first = False
        while True:
            year, month = divmod(months, 12)
            month += 1
            last = gregorian.monthrange(year, month)[1]
            day = date(year, month, last if wanted_day == -1 else min(wanted_day, last))
            in_month = rule.frequency is not Frequency.YEARLY or month == wanted_month
            if found_first:
                yield day
                months += step
            elif in_month and day >= rule.start:
                found_first = True
            else:
                months += 1


@settings(max_examples=250, deadline=None)
@given(rules())
def test_nominal_dates_strictly_increase(rule: Recurrence) -> None:
    sample = first(rule, _SAMPLE)
    assert len(sample) == _SAMPLE
    assert sample[0] >= rule.start
    assert all(earlier < later for earlier, later in itertools.pairwise(sample))


@settings(max_examples=250, deadline=None)
@given(rules())
def test_each_occurrence_computed_directly_matches_a_walk_through_the_calendar(
    rule: Recurrence,
) -> None:
    expected = list(itertools.islice(_reference_dates(rule), _SAMPLE))
    assert [rule.occurrence(k) for k in range(_SAMPLE)] == expected
    assert first(rule, _SAMPLE) == expected


@settings(max_examples=100, deadline=None)
@given(rules(), st.integers(0, _SAMPLE - 1))
def test_dates_from_any_index_continue_the_same_sequence(rule: Recurrence, start: int) -> None:
    whole = first(rule, _SAMPLE)
    resumed = list(itertools.islice(rule.dates(from_index=start), _SAMPLE - start))
    assert resumed == list(enumerate(whole))[start:]


@settings(max_examples=250, deadline=None)
@given(rules_with_ends(), st.data())
def test_first_index_on_or_after_is_the_smallest_index_not_before_the_day(
    rule: Recurrence, data: st.DataObject
) -> None:
    sample = first(rule, _SAMPLE)
    ended = rule.occurrence(len(sample)) is None
    latest = sample[-1] + timedelta(days=40) if ended else sample[-1]
    day = data.draw(st.dates(sample[0] - timedelta(days=40), latest))
    expected = next((k for k, found in enumerate(sample) if found >= day), None)
    assert rule.first_index_on_or_after(day) == expected


@settings(max_examples=250, deadline=None)
@given(rules().filter(lambda rule: rule.frequency in _MONTHS_PER_STEP))
def test_month_based_dates_fall_on_the_day_of_month_or_the_last_day_of_a_shorter_month(
    rule: Recurrence,
) -> None:
    wanted = rule.day_of_month or rule.start.day
    step = _MONTHS_PER_STEP[rule.frequency] * rule.interval
    sample = first(rule, _SAMPLE)
    for day in sample:
        last = gregorian.monthrange(day.year, day.month)[1]
        assert day.day == (last if wanted == -1 else min(wanted, last))
        if rule.month is not None:
            assert day.month == rule.month
    for earlier, later in itertools.pairwise(sample):
        assert (later.year * 12 + later.month) - (earlier.year * 12 + earlier.month) == step


@settings(max_examples=150, deadline=None)
@given(rules_with_ends())
def test_a_rule_never_goes_past_its_count_or_until(rule: Recurrence) -> None:
    sample = first(rule, _SAMPLE + 1)
    if rule.count is not None:
        assert len(sample) <= rule.count
    if rule.until is not None:
        assert sample[-1] <= rule.until
