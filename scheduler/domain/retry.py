"""What happens after a failed attempt: when to try again, or how to fail.

Three classes of failure (DESIGN.md §3):

* transient (the gateway did not answer): retry with capped exponential backoff and
  full jitter; after `max_transient_attempts` the operation is DEAD and operations
  staff are told;
* business (insufficient funds): retry at the next business morning in the customer's
  zone, when salaries and transfers have usually landed, up to
  `max_insufficient_funds_attempts`; then FAILED with a reason and what to do;
* terminal (closed account, currency mismatch, unknown account): FAILED at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.domain import localtime
from scheduler.domain.calendar import BusinessCalendar

#: Reasons and recommended actions shown in the history for the failures we know.
RECOMMENDED_ACTIONS: dict[str, str] = {
    "insufficient_funds": "Ask the customer to add funds, then re-drive the operation, "
    "or cancel it.",
    "account_closed": "The account is closed: ask the customer to update the schedule's "
    "accounts, then re-drive, or cancel the schedule.",
    "unknown_account": "Check the account numbers with the customer and update the schedule.",
    "currency_mismatch": "The account's currency differs from the payment's: update the "
    "schedule's amount currency or accounts.",
    "gateway_unavailable": "Check the payment gateway's health; re-drive once it answers.",
    "missed_execution_window": "The scheduler was down past the grace window: confirm with "
    "the customer, then re-drive or cancel.",
    "attempts_exhausted": "Workers kept stopping while executing it: check the worker logs "
    "and the gateway's record for this operation id before re-driving.",
}
DEFAULT_ACTION = "Investigate the failure reason; re-drive or cancel the operation."


def recommended_action(code: str | None) -> str:
    """What operations staff or the customer should do about a failure `code`."""
    return RECOMMENDED_ACTIONS.get(code or "", DEFAULT_ACTION)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Limits for retries. Backoff after transient failure n (1-based) is a random delay
    in [0, min(cap, base * 2**(n-1))] ("full jitter"), never below `floor`."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)
    floor: timedelta = timedelta(milliseconds=500)
    max_transient_attempts: int = 8
    max_insufficient_funds_attempts: int = 3
    business_morning: time = time(8, 0)

    def transient_delay(self, failures: int, rng: random.Random) -> timedelta:
        """How long to wait after the `failures`-th transient failure."""
        ceiling = min(self.cap, self.base * (1 << min(failures - 1, 30)))
        return max(self.floor, ceiling * rng.random())

    def next_business_morning(
        self, now: datetime, calendar: BusinessCalendar, tz: ZoneInfo
    ) -> datetime:
        """The next business day's `business_morning` in `tz`, strictly after `now` (UTC)."""
        day = now.astimezone(tz).date()
        while True:
            day += timedelta(days=1)
            if calendar.is_business_day(day):
                return localtime.to_utc(day, self.business_morning, tz)


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedRunPolicy:
    """What to do with an operation found long after its due time (after downtime).

    An execution more than `execution_grace` late is not run: it fails with
    "missed_execution_window" for a person to confirm (money is never moved on a stale
    instruction unasked). A reminder more than `reminder_grace` late is skipped: a
    reminder after the fact helps nobody.
    """

    execution_grace: timedelta = timedelta(hours=4)
    reminder_grace: timedelta = timedelta(minutes=30)

    def execution_missed(self, due_at: datetime, now: datetime) -> bool:
        """Whether an execution due at `due_at` is too late to run at `now`."""
        return now - due_at > self.execution_grace

    def reminder_stale(self, due_at: datetime, now: datetime) -> bool:
        """Whether a reminder due at `due_at` is too late to send at `now`."""
        return now - due_at > self.reminder_grace
