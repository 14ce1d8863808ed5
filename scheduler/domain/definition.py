"""A schedule's definition: the versioned JSON document it is built from and stored as.

The store keeps each schedule's definition next to its `definition_version`, and reads
it back through `to_schedule`, which knows every version it has ever written. The HTTP
API and the CLI build schedules through the same function, so one reading serves every
face, and the API's request models can change without turning into a data migration:
a new request shape maps onto the current version, and an old row keeps its version.

Version 1 (the first, and the current one):

    {"kind": "one_time_transfer" | "recurring_payment",
     "debit_account": "...", "credit_account": "...",
     "amount": {"value": "1250.00", "currency": "GBP"},
     "start_date": "2027-01-31", "time_of_day": "09:00:00", "time_zone": "Europe/London",
     "recurrence": null | {"frequency": "daily" | "weekly" | "monthly" | "quarterly" |
                           "yearly", "interval": 1, "weekdays": ["MO", ...],
                           "day_of_month": null | -1..31, "month": null | 1..12,
                           "until": null | "2027-12-31", "count": null | 1..},
     "business_days": {"calendar": null | "GB-ENG", "convention": "following" | ...},
     "reminders": ["P3D", "P1D", "PT1H"],
     "purpose": "transfer" | ..., "reference": "..."}

Amounts are decimal strings (never JSON numbers), dates and times ISO 8601. The values
are checked by the domain types they become (`Money`, `Recurrence`, `Schedule`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from scheduler.domain import calendar, errors, money, recurrence, reminder, schedule, text

#: The version `to_schedule` reads documents as unless told otherwise, and that new
#: definitions are stored as.
VERSION = 1

#: The top-level fields of a version 1 definition that may be null.
NULLABLE = frozenset({"recurrence"})

#: Weekday codes in ISO order: MO is 1, SU is 7.
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def to_schedule(
    document: Mapping[str, Any],
    *,
    schedule_id: UUID,
    customer_id: str,
    created_at: datetime,
    version: int = VERSION,
) -> schedule.Schedule:
    """The domain schedule `document` (a definition of `version`) describes, checked by
    the domain's rules. Raises `UnreadableDefinition` for a version this code does not
    know or a document missing what its version requires, and the domain's own errors
    for values it refuses."""
    if version != 1:
        raise errors.UnreadableDefinition(
            f"definition version {version} is not known", version=version
        )
    try:
        business_days = document.get("business_days") or {}
        return schedule.Schedule(
            id=schedule_id,
            customer_id=customer_id,
            kind=schedule.ScheduleKind(document["kind"]),
            debit_account=document["debit_account"],
            credit_account=document["credit_account"],
            amount=money.Money.of(document["amount"]["value"], document["amount"]["currency"]),
            recurrence=_recurrence(document),
            created_at=created_at,
            calendar=calendar.BusinessCalendar(calendar_id=business_days.get("calendar")),
            convention=calendar.Convention(business_days.get("convention", "following")),
            reminders=tuple(
                reminder.ReminderOffset.parse(text)
                for text in document.get("reminders", reminder.DEFAULT_OFFSETS)
            ),
            purpose=schedule.Purpose(document.get("purpose", schedule.Purpose.TRANSFER)),
            reference=document.get("reference", ""),
        )
    except (KeyError, TypeError, ValueError) as wrong:
        raise errors.UnreadableDefinition(
            f"definition version {version}: {type(wrong).__name__} {wrong}", version=version
        ) from None


def check_change(change: Mapping[str, Any]) -> None:
    """Refuse a change to a definition that sets a field its version requires to null
    (`ValidationError` naming the field): only `recurrence` may be null."""
    for field, value in change.items():
        if value is None and field not in NULLABLE:
            raise errors.ValidationError(f"{field} cannot be null", field=field)


def check_text(document: Mapping[str, Any]) -> None:
    """Refuse a definition holding, in any of its text fields, a character the text
    rule refuses (`domain.text`: `ForbiddenCharacter` naming the field). Reading a
    stored definition does not check this, so a schedule stored before the rule stays
    readable and payable; changing one checks it whole, so the change must mend it."""
    business_days = document.get("business_days") or {}
    texts = [
        ("reference", document.get("reference")),
        ("debit_account", document.get("debit_account")),
        ("credit_account", document.get("credit_account")),
        ("time_zone", document.get("time_zone")),
        ("business_days.calendar", business_days.get("calendar")),
    ]
    texts += [(f"reminders.{n}", value) for n, value in enumerate(document.get("reminders", ()))]
    for field, value in texts:
        if isinstance(value, str):
            text.require_plain(value, field=field)


def canonical_json(document: Any) -> str:
    """`document` as JSON with sorted keys and no spaces: equal documents, equal text."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _recurrence(document: Mapping[str, Any]) -> recurrence.Recurrence:
    start = date.fromisoformat(document["start_date"])
    time_of_day = time.fromisoformat(document["time_of_day"])
    time_zone = document["time_zone"]
    rule = document.get("recurrence")
    if rule is None:
        return recurrence.Recurrence(
            frequency=recurrence.Frequency.ONCE,
            start=start,
            time_of_day=time_of_day,
            time_zone=time_zone,
        )
    until = rule.get("until")
    return recurrence.Recurrence(
        frequency=recurrence.Frequency(rule["frequency"]),
        start=start,
        time_of_day=time_of_day,
        time_zone=time_zone,
        interval=rule.get("interval", 1),
        weekdays=frozenset(WEEKDAYS.index(day) + 1 for day in rule.get("weekdays", ())),
        day_of_month=rule.get("day_of_month"),
        month=rule.get("month"),
        until=None if until is None else date.fromisoformat(until),
        count=rule.get("count"),
    )
