"""The JSON shapes channels send and receive, and how they become domain objects."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from scheduler.api import schemas
from scheduler.domain import calendar, errors, plan, recurrence, reminder, schedule

CREATED_AT = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def document(**overrides: Any) -> dict[str, Any]:
    """A recurring mortgage payment as a channel sends it; `None` drops a field."""
    fields: dict[str, Any] = {
        "kind": "recurring_payment",
        "debit_account": "GB33BUKB20201555555555",
        "credit_account": "GB94BARC10201530093459",
        "amount": {"value": "1250.00", "currency": "GBP"},
        "start_date": "2027-01-31",
        "time_of_day": "09:00",
        "time_zone": "Europe/London",
        "recurrence": {"frequency": "monthly", "day_of_month": 31},
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


def one_time(**overrides: Any) -> dict[str, Any]:
    return document(kind="one_time_transfer", recurrence=None, **overrides)


def to_schedule(fields: dict[str, Any]) -> schedule.Schedule:
    return schemas.ScheduleIn.model_validate(fields).to_schedule(
        schedule_id=uuid.UUID(int=7), customer_id="customer-1", created_at=CREATED_AT
    )


def error_types(raised: pytest.ExceptionInfo[pydantic.ValidationError]) -> set[tuple[Any, ...]]:
    return {(*item["loc"], item["type"]) for item in raised.value.errors()}


def test_a_recurring_document_becomes_the_schedule_it_describes() -> None:
    made = to_schedule(
        document(
            purpose="loan_installment",
            reference="Mortgage 0042",
            business_days={"calendar": "GB-ENG", "convention": "modified_following"},
        )
    )
    assert made.id == uuid.UUID(int=7)
    assert made.kind is schedule.ScheduleKind.RECURRING_PAYMENT
    assert str(made.amount) == "GBP 1250.00"
    assert made.recurrence == recurrence.Recurrence(
        frequency=recurrence.Frequency.MONTHLY,
        start=date(2027, 1, 31),
        time_of_day=time(9, 0),
        time_zone="Europe/London",
        day_of_month=31,
    )
    assert made.calendar == calendar.BusinessCalendar(calendar_id="GB-ENG")
    assert made.convention is calendar.Convention.MODIFIED_FOLLOWING
    assert made.purpose is schedule.Purpose.LOAN_INSTALLMENT
    assert made.reference == "Mortgage 0042"
    assert made.created_at == CREATED_AT


def test_a_one_time_document_has_no_recurrence_and_runs_once() -> None:
    made = to_schedule(one_time())
    assert made.kind is schedule.ScheduleKind.ONE_TIME_TRANSFER
    assert made.recurrence.frequency is recurrence.Frequency.ONCE
    assert list(made.recurrence.dates()) == [(0, date(2027, 1, 31))]


def test_a_one_time_transfer_with_a_recurrence_is_rejected() -> None:
    with pytest.raises(errors.InvalidSchedule) as raised:
        to_schedule(document(kind="one_time_transfer"))
    assert raised.value.field == "recurrence"


def test_a_recurring_payment_without_a_recurrence_is_rejected() -> None:
    with pytest.raises(errors.InvalidSchedule) as raised:
        to_schedule(document(recurrence=None))
    assert raised.value.field == "recurrence"


def test_omitted_reminders_default_to_three_days_one_day_and_one_hour() -> None:
    shape = schemas.ScheduleIn.model_validate(document())
    assert shape.reminders == ["P3D", "P1D", "PT1H"]
    assert [r.isoformat() for r in to_schedule(document()).reminders] == ["P3D", "P1D", "PT1H"]


def test_an_empty_reminder_list_means_no_reminders() -> None:
    assert to_schedule(document(reminders=[])).reminders == ()


def test_reminders_given_are_parsed_and_ordered_longest_first() -> None:
    made = to_schedule(document(reminders=["PT30M", "P1W"]))
    assert made.reminders == (
        reminder.ReminderOffset.parse("P7D"),
        reminder.ReminderOffset.parse("PT30M"),
    )


def test_an_invalid_reminder_is_a_domain_error_on_the_reminders_field() -> None:
    with pytest.raises(errors.InvalidReminder) as raised:
        to_schedule(document(reminders=["P1M"]))
    assert raised.value.field == "reminders"


def test_business_days_default_to_weekends_only_and_following() -> None:
    made = to_schedule(document())
    assert made.calendar == calendar.BusinessCalendar()
    assert made.convention is calendar.Convention.FOLLOWING


@pytest.mark.parametrize(
    ("weekdays", "iso_numbers"),
    [
        (["MO", "WE", "FR"], {1, 3, 5}),
        (["SU"], {7}),
        (["SA", "SU", "MO"], {6, 7, 1}),
        ([], set()),
    ],
)
def test_weekday_names_become_iso_weekday_numbers(
    weekdays: list[str], iso_numbers: set[int]
) -> None:
    fields = document(recurrence={"frequency": "weekly", "weekdays": weekdays, "interval": 2})
    rule = to_schedule(fields).recurrence
    assert rule.weekdays == frozenset(iso_numbers)
    assert rule.interval == 2


def test_every_recurrence_field_reaches_the_domain_rule() -> None:
    rule = to_schedule(
        document(
            recurrence={
                "frequency": "yearly",
                "interval": 2,
                "day_of_month": -1,
                "month": 2,
                "until": "2040-12-31",
                "count": 5,
            }
        )
    ).recurrence
    assert (rule.frequency, rule.interval, rule.day_of_month, rule.month) == (
        recurrence.Frequency.YEARLY,
        2,
        -1,
        2,
    )
    assert (rule.until, rule.count) == (date(2040, 12, 31), 5)
    assert [day for _, day in rule.dates()][:2] == [date(2027, 2, 28), date(2029, 2, 28)]


# Amounts.


@pytest.mark.parametrize("value", [12.3, 12, 1e3])
def test_an_amount_given_as_a_json_number_is_rejected(value: float) -> None:
    text = json.dumps(document(amount={"value": value, "currency": "EUR"}))
    with pytest.raises(pydantic.ValidationError) as raised:
        schemas.ScheduleIn.model_validate_json(text)
    assert error_types(raised) == {("amount", "value", "string_type")}


@pytest.mark.parametrize("value", ["1e3", "1_000", " 12", "12.", "+12", "1,00"])
def test_an_amount_that_is_not_a_plain_decimal_string_is_rejected(value: str) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        schemas.ScheduleIn.model_validate(document(amount={"value": value, "currency": "EUR"}))
    assert error_types(raised) == {("amount", "value", "string_pattern_mismatch")}


def test_an_amount_with_too_many_decimals_is_rejected_by_the_domain() -> None:
    with pytest.raises(errors.InvalidMoney) as raised:
        to_schedule(document(amount={"value": "1.001", "currency": "EUR"}))
    assert raised.value.field == "amount"


def test_amount_in_converts_to_exact_money() -> None:
    amount = schemas.AmountIn(value="1.5", currency="KWD").to_money()
    assert amount.amount == Decimal("1.500")
    assert amount.currency.code == "KWD"


@pytest.mark.parametrize("code", ["eur", "EURO", "E1"])
def test_a_currency_code_that_is_not_three_capitals_is_rejected(code: str) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        schemas.ScheduleIn.model_validate(document(amount={"value": "1.00", "currency": code}))
    assert error_types(raised) == {("amount", "currency", "string_pattern_mismatch")}


def test_a_withdrawn_currency_is_rejected_by_the_domain() -> None:
    with pytest.raises(errors.UnknownCurrency):
        to_schedule(document(amount={"value": "1.00", "currency": "BGN"}))


# Shape.


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        (document(customer_id="c-1"), ("customer_id",)),
        (document(amount={"value": "1.00", "currency": "EUR", "rate": "1"}), ("amount", "rate")),
        (document(recurrence={"frequency": "monthly", "byday": "MO"}), ("recurrence", "byday")),
        (
            document(business_days={"calendar": "GB-ENG", "holidays": []}),
            ("business_days", "holidays"),
        ),
    ],
)
def test_unknown_fields_are_rejected_at_every_level(
    fields: dict[str, Any], location: tuple[str, ...]
) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        schemas.ScheduleIn.model_validate(fields)
    assert error_types(raised) == {(*location, "extra_forbidden")}


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        (document(reminders=["P1D"] * 6), ("reminders",)),
        (document(reference="R" * 141), ("reference",)),
        (document(debit_account=""), ("debit_account",)),
        (document(credit_account="X" * 35), ("credit_account",)),
        (document(kind="standing_order"), ("kind",)),
        (document(business_days={"convention": "nearest"}), ("business_days", "convention")),
        (document(start_date="31/01/2027"), ("start_date",)),
        (document(time_zone=None), ("time_zone",)),
    ],
)
def test_out_of_range_schedule_values_are_rejected_naming_the_field(
    fields: dict[str, Any], location: tuple[Any, ...]
) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        schemas.ScheduleIn.model_validate(fields)
    assert {item["loc"] for item in raised.value.errors()} == {location}


@pytest.mark.parametrize(
    ("rule", "location"),
    [
        ({"frequency": "once"}, ("frequency",)),
        ({"frequency": "weekly", "weekdays": ["mo"]}, ("weekdays", 0)),
        ({"frequency": "weekly", "weekdays": ["XX"]}, ("weekdays", 0)),
        ({"frequency": "monthly", "interval": 0}, ("interval",)),
        ({"frequency": "monthly", "interval": 1000}, ("interval",)),
        ({"frequency": "monthly", "day_of_month": 32}, ("day_of_month",)),
        ({"frequency": "monthly", "day_of_month": -2}, ("day_of_month",)),
        ({"frequency": "yearly", "month": 13}, ("month",)),
        ({"frequency": "daily", "count": 0}, ("count",)),
        ({"frequency": "daily", "until": "soon"}, ("until",)),
    ],
)
def test_out_of_range_recurrence_values_are_rejected_naming_the_field(
    rule: dict[str, Any], location: tuple[Any, ...]
) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        schemas.ScheduleIn.model_validate(document(recurrence=rule))
    assert {item["loc"] for item in raised.value.errors()} == {("recurrence", *location)}


def test_an_unknown_time_zone_is_rejected_by_the_domain() -> None:
    with pytest.raises(errors.UnknownTimeZone):
        to_schedule(document(time_zone="Mars/Base"))


def test_an_unknown_calendar_is_rejected_by_the_domain() -> None:
    with pytest.raises(errors.UnknownCalendar):
        to_schedule(document(business_days={"calendar": "ZZ"}))


def test_a_schedule_document_is_frozen() -> None:
    shape = schemas.ScheduleIn.model_validate(document())
    with pytest.raises(pydantic.ValidationError):
        shape.reference = "changed"


# Output.


def test_planned_execution_out_carries_every_field_of_the_plan() -> None:
    # Sunday 28 March 2027 at 01:30 London does not exist: 02:30 BST, 01:30Z.
    made = to_schedule(
        document(
            start_date="2027-03-28",
            time_of_day="01:30",
            recurrence={"frequency": "weekly"},
            business_days={"calendar": "GB-ENG", "convention": "none"},
            reminders=["P1D", "PT1H"],
        )
    )
    out = schemas.PlannedExecutionOut.of(plan.preview(made, 1)[0])
    assert out.model_dump(mode="json") == {
        "index": 0,
        "nominal_date": "2027-03-28",
        "execution_date": "2027-03-28",
        "holiday": None,
        "execute_at_utc": "2027-03-28T01:30:00Z",
        "execute_at_local": "2027-03-28T02:30:00+01:00",
        "dst_resolution": "shifted_forward",
        "reminders": [
            {
                "offset": "P1D",
                "due_at_utc": "2027-03-27T02:30:00Z",
                "due_at_local": "2027-03-27T02:30:00Z",
            },
            {
                "offset": "PT1H",
                "due_at_utc": "2027-03-28T00:30:00Z",
                "due_at_local": "2027-03-28T00:30:00Z",
            },
        ],
    }


def test_planned_execution_out_names_the_holiday_of_the_nominal_date() -> None:
    made = to_schedule(
        document(
            start_date="2027-05-31",
            business_days={"calendar": "GB-ENG", "convention": "modified_following"},
            reminders=[],
        )
    )
    out = schemas.PlannedExecutionOut.of(plan.preview(made, 1)[0])
    assert (out.nominal_date, out.execution_date, out.holiday) == (
        date(2027, 5, 31),
        date(2027, 5, 28),
        "Spring Bank Holiday",
    )
    assert out.execute_at_local.isoformat() == "2027-05-28T09:00:00+01:00"
    assert out.dst_resolution == "exact"
    assert out.reminders == []
