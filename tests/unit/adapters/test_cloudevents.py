"""Events become CloudEvents 1.0 structured JSON that consumers can de-duplicate."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.adapters import cloudevents
from scheduler.domain.events import SCHEMA_VERSION, Event, EventType

SCHEDULE_ID = uuid.UUID("5f0c8a3e-2b1d-4c6e-9a7f-0123456789ab")
EVENT_ID = uuid.UUID("0b5e1d2c-3a4f-4e6d-8c7b-9a8f7e6d5c4b")


def _event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "event_id": EVENT_ID,
        "type": EventType.EXECUTION_SUCCEEDED,
        "schedule_id": SCHEDULE_ID,
        "customer_id": "customer-7",
        "occurred_at": datetime(2027, 1, 29, 9, 0, tzinfo=UTC),
        "data": {"amount": {"value": "1250.00", "currency": "GBP"}, "attempt": 1},
    }
    fields.update(overrides)
    return Event(**fields)


def test_cloudevent_has_every_attribute_of_the_structured_json_format() -> None:
    assert cloudevents.to_cloudevent(_event()) == {
        "specversion": "1.0",
        "id": "0b5e1d2c-3a4f-4e6d-8c7b-9a8f7e6d5c4b",
        "source": "/tsched/schedules",
        "type": "com.tsched.execution.succeeded.v1",
        "subject": "5f0c8a3e-2b1d-4c6e-9a7f-0123456789ab",
        "time": "2027-01-29T09:00:00Z",
        "datacontenttype": "application/json",
        "dataschema": f"urn:tsched:events:com.tsched.execution.succeeded.v1:v{SCHEMA_VERSION}",
        "data": {
            "amount": {"value": "1250.00", "currency": "GBP"},
            "attempt": 1,
            "customer_id": "customer-7",
            "schedule_id": "5f0c8a3e-2b1d-4c6e-9a7f-0123456789ab",
        },
    }


def test_required_attributes_are_non_empty_strings_and_source_is_a_uri_reference() -> None:
    cloudevent = cloudevents.to_cloudevent(_event())

    for name in ("specversion", "id", "source", "type"):
        assert isinstance(cloudevent[name], str)
        assert cloudevent[name] != ""
    assert cloudevent["source"].startswith("/")
    assert cloudevent["dataschema"].startswith("urn:")


def test_id_is_the_event_id_on_every_encoding() -> None:
    first = cloudevents.encode(_event())
    second = cloudevents.encode(_event())

    assert first == second
    assert json.loads(first)["id"] == str(EVENT_ID)


def test_encoding_is_compact_utf8_json_with_sorted_keys() -> None:
    encoded = cloudevents.encode(_event(customer_id="kund-Åsa"))

    text = encoded.decode("utf-8")
    assert ": " not in text
    assert ", " not in text
    assert "kund-Åsa" in text
    assert list(json.loads(encoded)) == sorted(json.loads(encoded))
    assert text.startswith('{"data":{"amount":{"currency":"GBP","value":"1250.00"},')


def test_decimal_amount_given_as_a_string_stays_a_string() -> None:
    event = _event(data={"amount": {"value": "0.10", "currency": "EUR"}})

    decoded = json.loads(cloudevents.encode(event), parse_float=Decimal)

    assert decoded["data"]["amount"] == {"value": "0.10", "currency": "EUR"}
    assert b'"value":"0.10"' in cloudevents.encode(event)


def test_decimal_object_in_data_is_refused_rather_than_turned_into_a_float() -> None:
    event = _event(data={"amount": Decimal("0.10")})

    with pytest.raises(TypeError, match="Decimal"):
        cloudevents.encode(event)


def test_not_a_number_in_data_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        cloudevents.encode(_event(data={"rate": float("nan")}))


def test_time_is_converted_to_utc_with_a_z() -> None:
    occurred_at = datetime(2027, 3, 28, 3, 30, 15, 250000, tzinfo=ZoneInfo("Europe/Berlin"))

    assert cloudevents.time(_event(occurred_at=occurred_at)) == "2027-03-28T01:30:15.250000Z"
    assert (
        cloudevents.time(_event(occurred_at=datetime(2027, 1, 1, tzinfo=timezone(timedelta(0)))))
        == "2027-01-01T00:00:00Z"
    )


def test_naive_time_is_refused() -> None:
    naive = datetime(2027, 1, 29, 9, 0)  # noqa: DTZ001 - the point of the test

    with pytest.raises(ValueError, match="naive"):
        cloudevents.to_cloudevent(_event(occurred_at=naive))


def test_data_keeps_matching_customer_and_schedule_ids_already_in_it() -> None:
    event = _event(data={"schedule_id": str(SCHEDULE_ID), "customer_id": "customer-7"})

    assert cloudevents.data(event) == {
        "schedule_id": str(SCHEDULE_ID),
        "customer_id": "customer-7",
    }


def test_data_with_a_different_customer_id_is_refused() -> None:
    with pytest.raises(ValueError, match="customer_id"):
        cloudevents.data(_event(data={"customer_id": "someone-else"}))


def test_event_data_is_not_modified() -> None:
    data: dict[str, Any] = {"attempt": 2}
    cloudevents.to_cloudevent(_event(data=data))

    assert data == {"attempt": 2}
