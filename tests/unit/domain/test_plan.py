"""Planned executions: nominal date, business day, instant and reminders of each occurrence."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain import calendar, errors, localtime, money, plan, recurrence, schedule

Frequency = recurrence.Frequency
Convention = calendar.Convention
MakeSchedule = Callable[..., schedule.Schedule]
MakeRecurrence = Callable[..., recurrence.Recurrence]
ENGLAND = calendar.BusinessCalendar(calendar_id="GB-ENG")


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def mortgage(make_schedule: MakeSchedule) -> schedule.Schedule:
    """Monthly on the 31st from January 2027 at 09:00 London, modified following, England."""
    return make_schedule(
        calendar=ENGLAND,
        convention=Convention.MODIFIED_FOLLOWING,
        reminders=("P3D", "P1D", "PT1H"),
    )


def test_preview_keeps_the_nominal_date_beside_the_business_day_it_runs_on(
    mortgage: schedule.Schedule,
) -> None:
    planned = plan.preview(mortgage, 6)
    assert [(p.index, p.nominal_date, p.execution_date, p.due_at) for p in planned] == [
        (0, date(2027, 1, 31), date(2027, 1, 29), _utc(2027, 1, 29, 9, 0)),
        (1, date(2027, 2, 28), date(2027, 2, 26), _utc(2027, 2, 26, 9, 0)),
        (2, date(2027, 3, 31), date(2027, 3, 31), _utc(2027, 3, 31, 8, 0)),
        (3, date(2027, 4, 30), date(2027, 4, 30), _utc(2027, 4, 30, 8, 0)),
        (4, date(2027, 5, 31), date(2027, 5, 28), _utc(2027, 5, 28, 8, 0)),
        (5, date(2027, 6, 30), date(2027, 6, 30), _utc(2027, 6, 30, 8, 0)),
    ]
    assert [p.holiday for p in planned] == [None, None, None, None, "Spring Bank Holiday", None]


def test_preview_computes_each_reminder_from_the_execution(mortgage: schedule.Schedule) -> None:
    third = plan.preview(mortgage, 3)[2]
    assert third.execute_at.local == datetime(
        2027, 3, 31, 9, 0, tzinfo=localtime.zone("Europe/London")
    )
    assert [(r.offset.isoformat(), r.due_at) for r in third.reminders] == [
        ("P3D", _utc(2027, 3, 28, 8, 0)),  # 09:00 BST on the day the clocks went forward
        ("P1D", _utc(2027, 3, 30, 8, 0)),
        ("PT1H", _utc(2027, 3, 31, 7, 0)),
    ]


def test_preview_after_an_instant_skips_executions_due_by_then(
    mortgage: schedule.Schedule,
) -> None:
    planned = plan.preview(mortgage, 2, after=_utc(2027, 3, 15, 0, 0))
    assert [(p.index, p.execution_date) for p in planned] == [
        (2, date(2027, 3, 31)),
        (3, date(2027, 4, 30)),
    ]


def test_an_execution_due_exactly_at_after_is_not_listed(mortgage: schedule.Schedule) -> None:
    planned = plan.preview(mortgage, 1, after=_utc(2027, 3, 31, 8, 0))
    assert planned[0].index == 3


def test_after_may_be_given_in_any_zone(mortgage: schedule.Schedule) -> None:
    new_york = localtime.zone("America/New_York")
    planned = plan.preview(mortgage, 1, after=datetime(2027, 3, 31, 3, 59, tzinfo=new_york))
    assert planned[0].index == 2


def test_preceding_moves_an_execution_before_a_nominal_date_that_is_after_the_cutoff(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    # Sunday 1 August 2027 runs on Friday 30 July at 09:00 BST, 08:00Z.
    first_of_month = make_schedule(
        recurrence=make_recurrence(start=date(2027, 7, 1), day_of_month=1),
        convention=Convention.PRECEDING,
    )
    just_before = plan.preview(first_of_month, 1, after=_utc(2027, 7, 30, 7, 59))
    assert [(p.index, p.nominal_date, p.execution_date) for p in just_before] == [
        (1, date(2027, 8, 1), date(2027, 7, 30))
    ]
    at_the_time = plan.preview(first_of_month, 1, after=_utc(2027, 7, 30, 8, 0))
    assert [(p.index, p.nominal_date, p.execution_date) for p in at_the_time] == [
        (2, date(2027, 9, 1), date(2027, 9, 1))
    ]


def test_following_keeps_an_execution_whose_nominal_date_is_before_the_cutoff(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    # Saturday 30 January 2027 runs on Monday 1 February.
    thirtieth = make_schedule(
        recurrence=make_recurrence(start=date(2027, 1, 30)), convention=Convention.FOLLOWING
    )
    planned = plan.preview(thirtieth, 1, after=_utc(2027, 1, 31, 12, 0))
    assert [(p.index, p.nominal_date, p.execution_date) for p in planned] == [
        (0, date(2027, 1, 30), date(2027, 2, 1))
    ]


def test_preview_lists_at_most_count_executions(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    endless = make_schedule()
    assert len(plan.preview(endless, 3)) == 3
    assert plan.preview(endless, 0) == []
    two = make_schedule(recurrence=make_recurrence(count=2))
    assert [p.nominal_date for p in plan.preview(two, 5)] == [date(2027, 1, 31), date(2027, 2, 28)]


def test_a_negative_count_lists_nothing(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    # Before the fix a negative count listed the whole rule: forever for an endless one.
    # A bounded rule here, so a regression fails instead of hanging.
    assert plan.preview(make_schedule(recurrence=make_recurrence(count=3)), -1) == []


def test_a_finished_schedule_has_nothing_to_preview(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    by_count = make_schedule(recurrence=make_recurrence(count=3))
    assert plan.preview(by_count, 5, after=_utc(2027, 3, 31, 8, 0)) == []
    by_until = make_schedule(recurrence=make_recurrence(until=date(2027, 6, 30)))
    assert plan.preview(by_until, 5, after=_utc(2027, 7, 1, 0, 0)) == []


def test_a_one_time_transfer_has_one_execution(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    saturday = make_recurrence(frequency=Frequency.ONCE, start=date(2027, 12, 25))
    transfer = make_schedule(recurrence=saturday, convention=Convention.FOLLOWING)
    planned = plan.preview(transfer, 6, after=_utc(2027, 12, 1, 0, 0))
    assert [(p.nominal_date, p.execution_date, p.due_at) for p in planned] == [
        (date(2027, 12, 25), date(2027, 12, 27), _utc(2027, 12, 27, 9, 0))
    ]
    assert plan.preview(transfer, 6, after=_utc(2027, 12, 27, 9, 0)) == []


def test_a_naive_after_is_rejected(mortgage: schedule.Schedule) -> None:
    with pytest.raises(errors.NaiveDatetime) as raised:
        plan.preview(mortgage, 1, after=datetime(2027, 1, 1))  # noqa: DTZ001
    assert raised.value.field == "after"


def test_weekly_at_01_30_london_through_both_dst_changes_follows_the_dst_rule(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    sundays = make_recurrence(
        frequency=Frequency.WEEKLY,
        start=date(2027, 3, 21),
        until=date(2027, 11, 7),
        time_of_day=time(1, 30),
    )
    planned = plan.preview(make_schedule(recurrence=sundays), 100)
    assert len(planned) == 34
    spring, autumn = date(2027, 3, 28), date(2027, 10, 31)
    for execution in planned:
        day = execution.execution_date
        local, resolved = execution.execute_at.local, execution.execute_at
        if day == spring:
            assert (local.hour, local.minute) == (2, 30)
            assert resolved.resolution is localtime.Resolution.SHIFTED_FORWARD
        else:
            assert (local.hour, local.minute) == (1, 30)
        if day == autumn:
            assert resolved.resolution is localtime.Resolution.FIRST_OF_TWO
        elif day != spring:
            assert resolved.resolution is localtime.Resolution.EXACT
        on_summer_time = spring < day <= autumn
        expected_utc = datetime.combine(day, time(0, 30) if on_summer_time else time(1, 30), UTC)
        assert execution.due_at == expected_utc, day


# Properties.

CALENDARS = (calendar.BusinessCalendar(), ENGLAND, calendar.BusinessCalendar(calendar_id="TARGET"))


@st.composite
def schedules(draw: st.DrawFn) -> schedule.Schedule:
    frequency = draw(st.sampled_from([Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY]))
    rule = recurrence.Recurrence(
        frequency=frequency,
        start=draw(st.dates(date(2027, 1, 1), date(2028, 12, 31))),
        time_of_day=draw(st.sampled_from([time(0, 0), time(1, 30), time(2, 15), time(9, 0)])),
        time_zone=draw(
            st.sampled_from(["Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC"])
        ),
        interval=draw(st.integers(1, 3)),
        day_of_month=draw(st.sampled_from([None, 1, 30, 31, -1]))
        if frequency is Frequency.MONTHLY
        else None,
        count=40,
    )
    return schedule.Schedule(
        id=uuid.UUID(int=1),
        customer_id="customer",
        kind=schedule.ScheduleKind.RECURRING_PAYMENT,
        debit_account="DEBIT",
        credit_account="CREDIT",
        amount=money.Money.of("10.00", "EUR"),
        recurrence=rule,
        created_at=_utc(2027, 1, 1, 0, 0),
        calendar=draw(st.sampled_from(CALENDARS)),
        convention=draw(st.sampled_from(list(Convention))),
    )


@settings(max_examples=100, deadline=None)
@given(schedules(), st.integers(-20 * 24, 3 * 365 * 24), st.integers(1, 8))
def test_preview_after_an_instant_is_the_full_plan_from_that_instant_on(
    planned_schedule: schedule.Schedule, hours_after_start: int, count: int
) -> None:
    start = planned_schedule.recurrence.start
    after = datetime.combine(start, time(0, 0), UTC) + timedelta(hours=hours_after_start)
    everything = plan.preview(planned_schedule, 40)
    assert len(everything) == 40
    expected = [p for p in everything if p.due_at > after][:count]
    assert plan.preview(planned_schedule, count, after=after) == expected
    assert all(a.due_at <= b.due_at for a, b in itertools.pairwise(everything))
