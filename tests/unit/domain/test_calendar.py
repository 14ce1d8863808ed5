"""Business calendars and the conventions that move a payment off a closed day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain import calendar, errors

BusinessCalendar = calendar.BusinessCalendar
Convention = calendar.Convention

WEEKENDS_ONLY = BusinessCalendar()
ENGLAND = BusinessCalendar(calendar_id="GB-ENG")
TARGET = BusinessCalendar(calendar_id="TARGET")
NEW_YORK = BusinessCalendar(calendar_id="US-NY")


# Weekends.


@pytest.mark.parametrize(
    ("convention", "executes"),
    [
        (Convention.FOLLOWING, date(2027, 1, 18)),
        (Convention.MODIFIED_FOLLOWING, date(2027, 1, 18)),
        (Convention.PRECEDING, date(2027, 1, 15)),
        (Convention.NONE, date(2027, 1, 16)),
    ],
)
def test_payment_due_on_a_saturday_moves_by_convention(
    convention: Convention, executes: date
) -> None:
    assert WEEKENDS_ONLY.adjust(date(2027, 1, 16), convention) == executes


def test_a_business_day_is_never_moved() -> None:
    for convention in Convention:
        assert ENGLAND.adjust(date(2027, 1, 20), convention) == date(2027, 1, 20)


def test_a_custom_weekend_of_friday_and_saturday() -> None:
    gulf = BusinessCalendar(weekend=frozenset({5, 6}))
    assert not gulf.is_business_day(date(2027, 1, 15))
    assert gulf.is_business_day(date(2027, 1, 17))
    assert gulf.adjust(date(2027, 1, 15), Convention.FOLLOWING) == date(2027, 1, 17)


@pytest.mark.parametrize("weekend", [frozenset(range(1, 8)), frozenset({0, 6}), frozenset({8})])
def test_a_weekend_without_working_days_or_outside_1_to_7_is_rejected(
    weekend: frozenset[int],
) -> None:
    with pytest.raises(errors.UnknownCalendar) as raised:
        BusinessCalendar(weekend=weekend)
    assert raised.value.field == "weekend"


# Bank holidays of England.


def test_spring_bank_holiday_is_closed_and_following_moves_to_tuesday() -> None:
    spring_bank_holiday = date(2027, 5, 31)
    assert ENGLAND.holiday_name(spring_bank_holiday) == "Spring Bank Holiday"
    assert not ENGLAND.is_business_day(spring_bank_holiday)
    assert ENGLAND.adjust(spring_bank_holiday, Convention.FOLLOWING) == date(2027, 6, 1)
    assert ENGLAND.adjust(spring_bank_holiday, Convention.PRECEDING) == date(2027, 5, 28)


def test_holiday_on_the_last_day_of_the_month_with_modified_following_goes_back_to_friday() -> None:
    # Monday 31 May 2027: the following business day is in June, so the Friday before.
    assert ENGLAND.adjust(date(2027, 5, 31), Convention.MODIFIED_FOLLOWING) == date(2027, 5, 28)


def test_weekend_at_the_end_of_the_month_with_modified_following_goes_back_to_friday() -> None:
    # Saturday 30 and Sunday 31 January 2027.
    for day in (date(2027, 1, 30), date(2027, 1, 31)):
        assert WEEKENDS_ONLY.adjust(day, Convention.MODIFIED_FOLLOWING) == date(2027, 1, 29)
        assert WEEKENDS_ONLY.adjust(day, Convention.FOLLOWING) == date(2027, 2, 1)


def test_modified_following_moves_forward_when_the_next_business_day_is_in_the_same_month() -> None:
    # Saturday 1 May 2027, Sunday 2 May, Monday 3 May is the Early May bank holiday.
    assert ENGLAND.holiday_name(date(2027, 5, 3)) == "May Day"
    assert ENGLAND.adjust(date(2027, 5, 1), Convention.MODIFIED_FOLLOWING) == date(2027, 5, 4)
    assert ENGLAND.adjust(date(2027, 5, 1), Convention.PRECEDING) == date(2027, 4, 30)


def test_christmas_2026_on_a_friday_with_the_boxing_day_substitute_on_monday() -> None:
    assert ENGLAND.holiday_name(date(2026, 12, 25)) == "Christmas Day"
    assert ENGLAND.holiday_name(date(2026, 12, 26)) == "Boxing Day"
    assert ENGLAND.holiday_name(date(2026, 12, 28)) == "Boxing Day (observed)"
    assert ENGLAND.holiday_name(date(2026, 12, 29)) is None
    for closed in (date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 27), date(2026, 12, 28)):
        assert ENGLAND.adjust(closed, Convention.FOLLOWING) == date(2026, 12, 29)
        assert ENGLAND.adjust(closed, Convention.PRECEDING) == date(2026, 12, 24)
        assert ENGLAND.adjust(closed, Convention.NONE) == closed


def test_weekends_only_calendar_ignores_holidays() -> None:
    assert WEEKENDS_ONLY.holiday_name(date(2026, 12, 25)) is None
    assert WEEKENDS_ONLY.is_business_day(date(2026, 12, 25))


def test_business_days_lists_open_days_both_ends_included() -> None:
    assert list(ENGLAND.business_days(date(2026, 12, 24), date(2027, 1, 4))) == [
        date(2026, 12, 24),
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 4),
    ]


# Other calendars.


@pytest.mark.parametrize(
    ("day", "following", "preceding"),
    [
        (date(2028, 5, 1), date(2028, 5, 2), date(2028, 4, 28)),  # Labour Day, a Monday
        (date(2028, 12, 25), date(2028, 12, 27), date(2028, 12, 22)),  # Christmas Day
        (date(2028, 12, 26), date(2028, 12, 27), date(2028, 12, 22)),  # 26 December
        (date(2028, 4, 14), date(2028, 4, 18), date(2028, 4, 13)),  # Good Friday
        (date(2028, 4, 17), date(2028, 4, 18), date(2028, 4, 13)),  # Easter Monday
    ],
)
def test_target_closes_on_its_euro_payment_holidays(
    day: date, following: date, preceding: date
) -> None:
    assert not TARGET.is_business_day(day)
    assert TARGET.adjust(day, Convention.FOLLOWING) == following
    assert TARGET.adjust(day, Convention.PRECEDING) == preceding


def test_target_is_open_on_national_holidays_it_does_not_observe() -> None:
    assert TARGET.is_business_day(date(2028, 10, 3))  # German Unity Day, a Tuesday
    assert TARGET.is_business_day(date(2028, 5, 29))  # UK Spring Bank Holiday


def test_target2_and_ecb_are_names_for_the_target_calendar() -> None:
    for alias in ("TARGET2", "ECB"):
        assert not BusinessCalendar(calendar_id=alias).is_business_day(date(2028, 5, 1))


@pytest.mark.parametrize(
    ("day", "name", "following"),
    [
        (date(2027, 7, 5), "Independence Day (observed)", date(2027, 7, 6)),
        (date(2027, 2, 12), "Lincoln's Birthday", date(2027, 2, 16)),
        (date(2027, 11, 25), "Thanksgiving Day", date(2027, 11, 26)),
    ],
)
def test_new_york_state_holidays_move_payments(day: date, name: str, following: date) -> None:
    assert NEW_YORK.holiday_name(day) == name
    assert NEW_YORK.adjust(day, Convention.FOLLOWING) == following


@pytest.mark.parametrize("calendar_id", ["ZZ", "", "gb-eng", "GB-XX", "TARGET3"])
def test_an_unknown_calendar_is_rejected_when_the_calendar_is_made(calendar_id: str) -> None:
    with pytest.raises(errors.UnknownCalendar) as raised:
        BusinessCalendar(calendar_id=calendar_id)
    assert raised.value.field == "calendar"
    assert raised.value.details["calendar"] == calendar_id
    assert raised.value.code == "unknown_calendar"


# Properties.

CALENDARS = (WEEKENDS_ONLY, ENGLAND, TARGET, NEW_YORK, BusinessCalendar(calendar_id="JP"))
MOVING = [c for c in Convention if c is not Convention.NONE]

calendars = st.sampled_from(CALENDARS)
days = st.dates(date(2024, 1, 1), date(2032, 12, 31))


@settings(max_examples=300, deadline=None)
@given(calendars, days, st.sampled_from(MOVING))
def test_an_adjusted_date_is_a_business_day(
    business: BusinessCalendar, day: date, convention: Convention
) -> None:
    assert business.is_business_day(business.adjust(day, convention))


@settings(max_examples=200, deadline=None)
@given(calendars, days)
def test_none_keeps_every_date(business: BusinessCalendar, day: date) -> None:
    assert business.adjust(day, Convention.NONE) == day


@settings(max_examples=300, deadline=None)
@given(calendars, days)
def test_modified_following_never_leaves_the_month(business: BusinessCalendar, day: date) -> None:
    adjusted = business.adjust(day, Convention.MODIFIED_FOLLOWING)
    assert (adjusted.year, adjusted.month) == (day.year, day.month)


@settings(max_examples=300, deadline=None)
@given(calendars, days)
def test_following_moves_forward_and_preceding_backward_to_the_nearest_business_day(
    business: BusinessCalendar, day: date
) -> None:
    following = business.adjust(day, Convention.FOLLOWING)
    preceding = business.adjust(day, Convention.PRECEDING)
    assert preceding <= day <= following
    if business.is_business_day(day):
        assert preceding == following == day
    assert not any(business.is_business_day(d) for d in _days_between(day, following))
    assert not any(business.is_business_day(d) for d in _days_between(preceding, day))


@settings(max_examples=300, deadline=None)
@given(calendars, days, st.integers(0, 40), st.sampled_from(list(Convention)))
def test_adjustment_keeps_the_order_of_dates(
    business: BusinessCalendar, day: date, gap: int, convention: Convention
) -> None:
    later = day + timedelta(days=gap)
    assert business.adjust(day, convention) <= business.adjust(later, convention)


def _days_between(first: date, last: date) -> list[date]:
    """The days strictly between `first` and `last`."""
    return [first + timedelta(days=n) for n in range(1, (last - first).days)]
