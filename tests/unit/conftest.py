"""Factories for domain objects with plain defaults: a test overrides only what it is about.

The factories are session-scoped fixtures returning functions, so Hypothesis tests can use
them too (they hold no per-test state beyond a counter for unique references).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from scheduler.domain import money, recurrence, reminder, schedule

_references = itertools.count(1)


def _recurrence(**overrides: Any) -> recurrence.Recurrence:
    fields: dict[str, Any] = {
        "frequency": recurrence.Frequency.MONTHLY,
        "start": date(2027, 1, 31),
        "time_of_day": time(9, 0),
        "time_zone": "Europe/London",
    }
    fields.update(overrides)
    return recurrence.Recurrence(**fields)


def _schedule(**overrides: Any) -> schedule.Schedule:
    """A schedule with unique accounts and customer; `kind` follows the recurrence, and
    `reminders` may be given as ISO 8601 strings."""
    number = next(_references)
    rule = overrides.pop("recurrence", None) or _recurrence()
    reminders = tuple(
        reminder.ReminderOffset.parse(item) if isinstance(item, str) else item
        for item in overrides.pop("reminders", ())
    )
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "customer_id": f"customer-{number}",
        "kind": (
            schedule.ScheduleKind.ONE_TIME_TRANSFER
            if rule.frequency is recurrence.Frequency.ONCE
            else schedule.ScheduleKind.RECURRING_PAYMENT
        ),
        "debit_account": f"DEBIT-{number}",
        "credit_account": f"CREDIT-{number}",
        "amount": money.Money.of("1250.00", "GBP"),
        "recurrence": rule,
        "created_at": datetime(2027, 1, 1, 12, 0, tzinfo=UTC),
        "reminders": reminders,
    }
    fields.update(overrides)
    return schedule.Schedule(**fields)


@pytest.fixture(scope="session")
def make_recurrence() -> Callable[..., recurrence.Recurrence]:
    """Monthly from Sunday 31 January 2027 at 09:00 Europe/London, unless overridden."""
    return _recurrence


@pytest.fixture(scope="session")
def make_schedule() -> Callable[..., schedule.Schedule]:
    """A GBP 1250.00 recurring payment on `make_recurrence()`'s rule, weekends-only
    calendar, convention NONE, no reminders, unless overridden."""
    return _schedule
