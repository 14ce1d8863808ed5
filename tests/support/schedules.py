"""Creating schedules the way a channel does: a JSON document through the use case."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.api import schemas
from scheduler.ports import AccountDirectory, Clock
from scheduler.service.create_schedule import CreateSchedule, create_schedule

#: Monthly on the 31st from January 2027 at 09:00 London, twelve times, moved by the
#: English calendar with modified following (31 January 2027 is a Sunday: the 29th).
MORTGAGE: dict[str, Any] = {
    "kind": "recurring_payment",
    "debit_account": "GB-DEBIT-1",
    "credit_account": "GB-CREDIT-1",
    "amount": {"value": "1250.00", "currency": "GBP"},
    "start_date": "2027-01-31",
    "time_of_day": "09:00",
    "time_zone": "Europe/London",
    "recurrence": {"frequency": "monthly", "day_of_month": 31, "count": 12},
    "business_days": {"calendar": "GB-ENG", "convention": "modified_following"},
}


def one_time_transfer(
    start_date: str, amount: str, *, reminders: Sequence[str] = ()
) -> dict[str, Any]:
    """A one-time GBP transfer from GB-DEBIT-1 to GB-CREDIT-1 at 10:00 London time."""
    return {
        "kind": "one_time_transfer",
        "debit_account": "GB-DEBIT-1",
        "credit_account": "GB-CREDIT-1",
        "amount": {"value": amount, "currency": "GBP"},
        "start_date": start_date,
        "time_of_day": "10:00",
        "time_zone": "Europe/London",
        "reminders": list(reminders),
    }


class EveryAccountHeld:
    """An `AccountDirectory` in which every customer holds every account: for tests of
    other rules (the holder rule has tests of its own, against the ledger)."""

    def holds(self, customer_id: str, account_id: str) -> bool:
        return True


def create(
    engine: sa.Engine,
    clock: Clock,
    document: dict[str, Any],
    *,
    customer_id: str = "alice",
    accounts: AccountDirectory | None = None,
) -> uuid.UUID:
    """Store the schedule `document` describes for `customer_id`; returns its id. The
    debit account is checked against `accounts` (default: every account is held)."""
    parsed = schemas.ScheduleIn.model_validate(document)
    schedule = parsed.to_schedule(
        schedule_id=uuid.uuid4(), customer_id=customer_id, created_at=clock.now()
    )
    create_schedule(
        CreateSchedule(
            schedule=schedule,
            definition=parsed.model_dump(mode="json"),
            channel="mobile",
            actor=f"customer:{customer_id}",
        ),
        uow=SqlUnitOfWork(engine),
        clock=clock,
        accounts=accounts or EveryAccountHeld(),
    )
    return schedule.id
