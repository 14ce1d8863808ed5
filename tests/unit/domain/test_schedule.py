"""Schedules: what a customer asked the bank to pay, checked when made."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduler.domain import calendar, errors, money, recurrence, reminder, schedule

Schedule = schedule.Schedule
MakeSchedule = Callable[..., Schedule]
MakeRecurrence = Callable[..., recurrence.Recurrence]
Kind = schedule.ScheduleKind
Status = schedule.ScheduleStatus


def offsets(*texts: str) -> tuple[reminder.ReminderOffset, ...]:
    return tuple(reminder.ReminderOffset.parse(text) for text in texts)


def test_a_one_time_transfer_happens_once(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    once = make_recurrence(frequency=recurrence.Frequency.ONCE)
    transfer = make_schedule(kind=Kind.ONE_TIME_TRANSFER, recurrence=once)
    assert transfer.kind is Kind.ONE_TIME_TRANSFER
    assert transfer.status is Status.ACTIVE
    assert transfer.version == 1


def test_a_one_time_transfer_cannot_recur(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    with pytest.raises(errors.InvalidSchedule) as raised:
        make_schedule(kind=Kind.ONE_TIME_TRANSFER, recurrence=make_recurrence())
    assert raised.value.field == "recurrence"


def test_a_recurring_payment_must_recur(
    make_schedule: MakeSchedule, make_recurrence: MakeRecurrence
) -> None:
    once = make_recurrence(frequency=recurrence.Frequency.ONCE)
    with pytest.raises(errors.InvalidSchedule) as raised:
        make_schedule(kind=Kind.RECURRING_PAYMENT, recurrence=once)
    assert raised.value.field == "recurrence"


def test_paying_an_account_from_itself_is_rejected(make_schedule: MakeSchedule) -> None:
    with pytest.raises(errors.InvalidSchedule, match="must differ") as raised:
        make_schedule(
            debit_account="GB33BUKB20201555555555", credit_account="GB33BUKB20201555555555"
        )
    assert raised.value.field == "credit_account"


@pytest.mark.parametrize("field", ["debit_account", "credit_account"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_accounts_are_required(make_schedule: MakeSchedule, field: str, blank: str) -> None:
    with pytest.raises(errors.InvalidSchedule, match="is required") as raised:
        make_schedule(**{field: blank})
    assert raised.value.field == field


def test_a_customer_is_required(make_schedule: MakeSchedule) -> None:
    with pytest.raises(errors.InvalidSchedule) as raised:
        make_schedule(customer_id="")
    assert raised.value.field == "customer_id"


@pytest.mark.parametrize("amount", ["0.00", "-10.00"])
def test_zero_or_negative_amounts_are_rejected(make_schedule: MakeSchedule, amount: str) -> None:
    with pytest.raises(errors.InvalidMoney, match="must be positive") as raised:
        make_schedule(amount=money.Money.of(amount, "EUR"))
    assert raised.value.field == "amount"


def test_a_reference_of_140_characters_fits_and_141_do_not(make_schedule: MakeSchedule) -> None:
    assert make_schedule(reference="R" * 140).reference == "R" * 140
    with pytest.raises(errors.InvalidSchedule, match="at most 140") as raised:
        make_schedule(reference="R" * 141)
    assert raised.value.field == "reference"


@pytest.mark.parametrize(
    "texts",
    [("P1D", "P1D"), ("P1W", "P7D"), ("P3D", "P2D", "P1D", "PT12H", "PT1H", "PT30M")],
    ids=["same twice", "same offset spelled two ways", "six reminders"],
)
def test_duplicate_or_too_many_reminders_are_rejected(
    make_schedule: MakeSchedule, texts: tuple[str, ...]
) -> None:
    with pytest.raises(errors.InvalidSchedule, match="at most 5 distinct") as raised:
        make_schedule(reminders=texts)
    assert raised.value.field == "reminders"


def test_reminders_are_kept_longest_first(make_schedule: MakeSchedule) -> None:
    made = make_schedule(reminders=("PT1H", "P3D", "P1DT12H", "P1D", "PT30M"))
    assert made.reminders == offsets("P3D", "P1DT12H", "P1D", "PT1H", "PT30M")


def test_one_day_and_24_hours_are_two_reminders(make_schedule: MakeSchedule) -> None:
    made = make_schedule(reminders=("PT24H", "P1D"))
    assert {offset.isoformat() for offset in made.reminders} == {"PT24H", "P1D"}


def test_a_naive_creation_time_is_rejected(make_schedule: MakeSchedule) -> None:
    with pytest.raises(errors.NaiveDatetime) as raised:
        make_schedule(created_at=datetime(2027, 1, 1, 12, 0))  # noqa: DTZ001
    assert raised.value.field == "created_at"


def test_the_creation_time_is_kept_in_utc(make_schedule: MakeSchedule) -> None:
    made = make_schedule(
        created_at=datetime(2027, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    )
    assert made.created_at == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    assert made.created_at.tzinfo is UTC


def test_with_status_returns_a_copy_one_version_later(make_schedule: MakeSchedule) -> None:
    active = make_schedule(reminders=("P1D",))
    paused = active.with_status(Status.PAUSED)
    assert (paused.status, paused.version) == (Status.PAUSED, 2)
    assert (active.status, active.version) == (Status.ACTIVE, 1)
    assert paused.with_status(Status.ACTIVE).version == 3
    unchanged = ("id", "customer_id", "amount", "recurrence", "reminders", "created_at")
    for name in unchanged:
        assert getattr(paused, name) == getattr(active, name)


def test_defaults_are_weekends_only_no_adjustment_no_reminders_and_transfer(
    make_schedule: MakeSchedule,
) -> None:
    made = make_schedule()
    assert made.calendar.calendar_id is None
    assert made.convention is calendar.Convention.NONE
    assert made.reminders == ()
    assert made.purpose is schedule.Purpose.TRANSFER
    assert made.reference == ""


def test_a_schedule_is_immutable(make_schedule: MakeSchedule) -> None:
    made = make_schedule()
    with pytest.raises(AttributeError):
        made.status = Status.CANCELLED


# The whole table of schedule status moves, written out rather than derived from the code:
# active and paused move between each other and either may end; an ended schedule stays.
_ALLOWED_SCHEDULE_MOVES = {
    (Status.ACTIVE, Status.PAUSED),
    (Status.ACTIVE, Status.CANCELLED),
    (Status.ACTIVE, Status.COMPLETED),
    (Status.PAUSED, Status.ACTIVE),
    (Status.PAUSED, Status.CANCELLED),
    (Status.PAUSED, Status.COMPLETED),
}


@pytest.mark.parametrize("requested", list(Status), ids=str)
@pytest.mark.parametrize("current", list(Status), ids=str)
def test_schedule_status_moves_follow_the_agreed_table(
    current: schedule.ScheduleStatus, requested: schedule.ScheduleStatus
) -> None:
    expected = (current, requested) in _ALLOWED_SCHEDULE_MOVES
    assert schedule.can_change_status(current, requested) is expected


@pytest.mark.parametrize("current", list(Status), ids=str)
def test_a_schedule_never_moves_to_the_status_it_already_has(
    current: schedule.ScheduleStatus,
) -> None:
    assert schedule.can_change_status(current, current) is False


def test_cancelled_and_completed_are_the_final_statuses() -> None:
    assert frozenset({Status.CANCELLED, Status.COMPLETED}) == schedule.FINAL_STATUSES


@pytest.mark.parametrize("final", sorted(schedule.FINAL_STATUSES), ids=str)
def test_a_final_status_is_never_left(final: schedule.ScheduleStatus) -> None:
    assert [s for s in Status if schedule.can_change_status(final, s)] == []


@pytest.mark.parametrize("live", [Status.ACTIVE, Status.PAUSED], ids=str)
def test_a_live_schedule_can_reach_every_final_status(live: schedule.ScheduleStatus) -> None:
    assert all(schedule.can_change_status(live, final) for final in schedule.FINAL_STATUSES)
