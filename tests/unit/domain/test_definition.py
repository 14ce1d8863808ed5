"""Schedule definitions, read as stored: version 1 documents become domain schedules
whatever the API's request models become, an unknown version or a document missing a
field is refused by name, and the values are checked by the domain types."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from scheduler.api import schemas
from scheduler.domain import calendar, definition, errors, money, recurrence, reminder
from scheduler.domain.schedule import Purpose, ScheduleKind

SCHEDULE_ID = uuid.UUID("00000000-0000-4000-8000-000000000031")
CREATED_AT = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)

#: A version 1 definition as the store holds it (the text of a row, kept verbatim): the
#: reading of this text must never change, whatever the API's models become.
STORED_V1 = """{"amount":{"currency":"GBP","value":"1250.00"},"business_days":{"calendar":"GB-ENG",
"convention":"modified_following"},"credit_account":"GB-CREDIT-1","debit_account":"GB-DEBIT-1",
"kind":"recurring_payment","purpose":"transfer","recurrence":{"count":12,"day_of_month":31,
"frequency":"monthly","interval":1,"month":null,"until":null,"weekdays":[]},"reference":
"Mortgage 4471","reminders":["P3D","P1D","PT1H"],"start_date":"2027-01-31","time_of_day":
"09:00:00","time_zone":"Europe/London"}""".replace("\n", "")


def _read(document: dict[str, Any], version: int = definition.VERSION) -> Any:
    return definition.to_schedule(
        document,
        schedule_id=SCHEDULE_ID,
        customer_id="alice",
        created_at=CREATED_AT,
        version=version,
    )


def test_a_stored_version_1_definition_reads_as_the_schedule_it_describes() -> None:
    schedule = _read(json.loads(STORED_V1), version=1)

    assert schedule.kind is ScheduleKind.RECURRING_PAYMENT
    assert (schedule.debit_account, schedule.credit_account) == ("GB-DEBIT-1", "GB-CREDIT-1")
    assert schedule.amount == money.Money.of("1250.00", "GBP")
    assert schedule.recurrence == recurrence.Recurrence(
        frequency=recurrence.Frequency.MONTHLY,
        start=date(2027, 1, 31),
        time_of_day=time(9, 0),
        time_zone="Europe/London",
        day_of_month=31,
        count=12,
    )
    assert schedule.calendar == calendar.BusinessCalendar(calendar_id="GB-ENG")
    assert schedule.convention is calendar.Convention.MODIFIED_FOLLOWING
    assert schedule.reminders == tuple(
        reminder.ReminderOffset.parse(text) for text in ("P3D", "P1D", "PT1H")
    )
    assert (schedule.purpose, schedule.reference) == (Purpose.TRANSFER, "Mortgage 4471")
    assert (schedule.id, schedule.customer_id, schedule.created_at) == (
        SCHEDULE_ID,
        "alice",
        CREATED_AT,
    )


def test_what_the_api_accepts_is_stored_as_a_current_definition() -> None:
    # The API stores the document a channel sent, normalised by its model: it must be a
    # definition of the current version, read back to the very schedule the API built.
    sent = json.loads(STORED_V1) | {
        "recurrence": {"frequency": "weekly", "weekdays": ["MO", "TH"]},
        "business_days": {"calendar": None},
    }
    parsed = schemas.ScheduleIn.model_validate(sent)
    stored = json.loads(definition.canonical_json(parsed.model_dump(mode="json")))

    built = parsed.to_schedule(schedule_id=SCHEDULE_ID, customer_id="alice", created_at=CREATED_AT)

    assert _read(stored) == built
    assert built.recurrence.weekdays == frozenset({1, 4})


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(errors.UnreadableDefinition, match="version 2 is not known"):
        _read(json.loads(STORED_V1), version=2)


@pytest.mark.parametrize("field", ["kind", "amount", "start_date", "time_zone"])
def test_a_definition_missing_what_its_version_requires_is_refused_by_name(field: str) -> None:
    document = json.loads(STORED_V1)
    del document[field]

    with pytest.raises(errors.UnreadableDefinition, match=field):
        _read(document)


def test_values_are_checked_by_the_domain_types() -> None:
    document = json.loads(STORED_V1) | {"amount": {"value": "1250.005", "currency": "GBP"}}

    with pytest.raises(errors.InvalidMoney):
        _read(document)


def test_canonical_json_is_the_same_text_for_the_same_document() -> None:
    assert definition.canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == (
        '{"a":[1,{"c":3,"d":2}],"b":1}'
    )
