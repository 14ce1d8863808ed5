"""What `tsched examples` previews and `tsched demo` runs.

The schedules are the documents a channel would send, so both exercise the same path
as the HTTP API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "Mortgage: monthly on the 31st, London, modified following, bank holidays of England",
        {
            "kind": "recurring_payment",
            "debit_account": "GB33BUKB20201555555555",
            "credit_account": "GB94BARC10201530093459",
            "amount": {"value": "1250.00", "currency": "GBP"},
            "purpose": "loan_installment",
            "reference": "Mortgage 0042",
            "start_date": "2027-01-31",
            "time_of_day": "09:00",
            "time_zone": "Europe/London",
            "recurrence": {"frequency": "monthly", "day_of_month": 31, "count": 24},
            "business_days": {"calendar": "GB-ENG", "convention": "modified_following"},
        },
    ),
    (
        "Savings: weekly on Sunday at 02:30 in New York, a time that does not exist on 14 March",
        {
            "kind": "recurring_payment",
            "debit_account": "US-CHK-001",
            "credit_account": "US-SAV-001",
            "amount": {"value": "25.00", "currency": "USD"},
            "purpose": "savings",
            "start_date": "2027-03-07",
            "time_of_day": "02:30",
            "time_zone": "America/New_York",
            "recurrence": {"frequency": "weekly", "weekdays": ["SU"]},
            "business_days": {"convention": "none"},
            "reminders": ["P1D"],
        },
    ),
    (
        "Insurance: quarterly on the 30th, euro TARGET calendar, following",
        {
            "kind": "recurring_payment",
            "debit_account": "DE89370400440532013000",
            "credit_account": "DE02120300000000202051",
            "amount": {"value": "310.47", "currency": "EUR"},
            "purpose": "bill",
            "start_date": "2027-01-30",
            "time_of_day": "08:00",
            "time_zone": "Europe/Berlin",
            "recurrence": {"frequency": "quarterly", "day_of_month": 30},
            "business_days": {"calendar": "TARGET", "convention": "following"},
        },
    ),
    (
        "One-time transfer in yen on a Saturday in Tokyo, following",
        {
            "kind": "one_time_transfer",
            "debit_account": "JP-0001-1234567",
            "credit_account": "JP-0005-7654321",
            "amount": {"value": "150000", "currency": "JPY"},
            "start_date": "2027-12-25",
            "time_of_day": "10:00",
            "time_zone": "Asia/Tokyo",
            "business_days": {"calendar": "JP", "convention": "following"},
        },
    ),
)


class DemoAccount(NamedTuple):
    """A ledger account the demo opens, with its opening balance (a decimal string)."""

    account_id: str
    customer_id: str
    currency: str
    opening_balance: str


class DemoSchedule(NamedTuple):
    """A schedule the demo creates for `customer_id`, shown under `label`."""

    label: str
    customer_id: str
    document: dict[str, Any]


#: The simulated instant the demo starts at, and the one it stops at.
DEMO_START = datetime(2027, 1, 25, 8, 0, tzinfo=UTC)
DEMO_END = datetime(2027, 4, 1, 0, 0, tzinfo=UTC)

DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("GB33BUKB20201555555555", "alice", "GBP", "10000.00"),
    DemoAccount("GB94BARC10201530093459", "bank", "GBP", "0.00"),
    DemoAccount("US-CHK-001", "bob", "USD", "120.00"),
    DemoAccount("US-SAV-001", "bob", "USD", "0.00"),
    DemoAccount("DE89370400440532013000", "carol", "EUR", "200.00"),
    DemoAccount("DE02120300000000202051", "streaming", "EUR", "0.00"),
    DemoAccount("JP-0001-1234567", "dai", "JPY", "500000"),
    DemoAccount("JP-0005-7654321", "landlord", "JPY", "0"),
)

DEMO_SCHEDULES: tuple[DemoSchedule, ...] = (
    DemoSchedule("mortgage", "alice", EXAMPLES[0][1]),
    DemoSchedule(
        "savings",
        "bob",
        EXAMPLES[1][1]
        | {"start_date": "2027-02-28", "amount": {"value": "40.00", "currency": "USD"}},
    ),
    DemoSchedule(
        "streaming",
        "carol",
        {
            "kind": "recurring_payment",
            "debit_account": "DE89370400440532013000",
            "credit_account": "DE02120300000000202051",
            "amount": {"value": "49.99", "currency": "EUR"},
            "purpose": "subscription",
            "reference": "Streaming plan",
            "start_date": "2027-02-01",
            "time_of_day": "07:00",
            "time_zone": "Europe/Berlin",
            "recurrence": {"frequency": "monthly", "day_of_month": 1},
            "business_days": {"calendar": "TARGET", "convention": "following"},
            "reminders": ["P3D"],
        },
    ),
    DemoSchedule(
        "rent",
        "dai",
        EXAMPLES[3][1] | {"start_date": "2027-02-13", "reminders": ["P1D", "PT1H"]},
    ),
)
