"""Operations: one execution or reminder of a schedule, and the states it moves through.

::

    PENDING -> CLAIMED -> SUCCEEDED
                       -> RETRY_WAIT -> CLAIMED ...
                       -> FAILED | DEAD     (operations staff may re-drive: -> PENDING)
                       -> SKIPPED           (missed-run policy, or paused schedule)
    PENDING | RETRY_WAIT -> CANCELLED | SKIPPED
    CLAIMED -> CLAIMED   (a worker's lease expired; another worker claims it)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from scheduler.domain import errors
from scheduler.domain.money import Money


class OperationKind(enum.StrEnum):
    """What an operation does when it runs."""

    #: Move the money.
    EXECUTION = "execution"
    #: Tell the customer an execution is coming.
    REMINDER = "reminder"


class OperationStatus(enum.StrEnum):
    """Where an operation is in its life."""

    #: Waiting for its due time.
    PENDING = "pending"
    #: A worker holds a lease on it and is running it.
    CLAIMED = "claimed"
    #: It ran; the money moved or the reminder was sent.
    SUCCEEDED = "succeeded"
    #: It failed for a reason that may pass; it runs again at its next attempt time.
    RETRY_WAIT = "retry_wait"
    #: It failed for a reason that retrying cannot fix; the reason says what to do.
    FAILED = "failed"
    #: Its retries are exhausted; operations staff have been told.
    DEAD = "dead"
    #: It was deliberately not run (missed-run policy, paused schedule).
    SKIPPED = "skipped"
    #: The customer cancelled it before it ran.
    CANCELLED = "cancelled"


_S = OperationStatus
_ALLOWED: dict[OperationStatus, frozenset[OperationStatus]] = {
    _S.PENDING: frozenset({_S.CLAIMED, _S.CANCELLED, _S.SKIPPED}),
    _S.CLAIMED: frozenset(
        {_S.CLAIMED, _S.SUCCEEDED, _S.RETRY_WAIT, _S.FAILED, _S.DEAD, _S.SKIPPED}
    ),
    _S.RETRY_WAIT: frozenset({_S.CLAIMED, _S.CANCELLED, _S.SKIPPED}),
    _S.FAILED: frozenset({_S.PENDING}),
    _S.DEAD: frozenset({_S.PENDING}),
    _S.SUCCEEDED: frozenset(),
    _S.SKIPPED: frozenset(),
    _S.CANCELLED: frozenset(),
}

#: States an operation never leaves by itself.
FINAL = frozenset({_S.SUCCEEDED, _S.FAILED, _S.DEAD, _S.SKIPPED, _S.CANCELLED})
#: States a due operation can be claimed from.
CLAIMABLE = frozenset({_S.PENDING, _S.RETRY_WAIT})


def can_transition(current: OperationStatus, requested: OperationStatus) -> bool:
    """Whether an operation in `current` may move to `requested`."""
    return requested in _ALLOWED[current]


def transition(
    current: OperationStatus, requested: OperationStatus, *, operation_id: str | None = None
) -> OperationStatus:
    """Return `requested` if the move from `current` is legal, else raise
    `IllegalTransition` naming both states."""
    if not can_transition(current, requested):
        raise errors.IllegalTransition(current.value, requested.value, operation_id=operation_id)
    return requested


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One execution or reminder of a schedule, as stored. A reminder carries the
    payment's details so its notification can say what is coming."""

    id: UUID
    schedule_id: UUID
    customer_id: str
    kind: OperationKind
    occurrence_index: int
    #: "" for an execution, the ISO 8601 offset ("P3D") for a reminder.
    reminder_offset: str
    nominal_date: date
    execution_date: date
    due_at: datetime
    status: OperationStatus
    #: Times a worker claimed it: every attempt, whatever became of it.
    attempts: int
    debit_account: str
    credit_account: str
    amount: Money
    #: Times the gateway declined it for a reason that may pass (insufficient funds).
    declines: int = 0
    #: Attempts made before operations staff last re-drove it (0 if never): the
    #: dispatcher's bounds count the attempts since, so a re-drive gets a full set.
    attempts_before_redrive: int = 0
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error_code: str | None = None
    last_error_reason: str | None = None
    #: The trace context it was created in (a W3C traceparent), for its execution to
    #: join; None when nothing traced its creation.
    traceparent: str | None = None

    @property
    def attempts_since_redrive(self) -> int:
        """Attempts in the current drive: all of them, or those since the last re-drive."""
        return self.attempts - self.attempts_before_redrive


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The result of one attempt at an operation: the status it moves to, when it may be
    claimed again (RETRY_WAIT), and why it did not succeed."""

    operation: Operation
    status: OperationStatus
    started_at: datetime
    finished_at: datetime
    retry_at: datetime | None = None
    error_code: str | None = None
    reason: str | None = None
    recommended_action: str | None = None
    gateway_reference: str | None = None
    #: The gateway declined for a reason that may pass (counted against its own limit).
    declined: bool = False
    #: The trace context of this attempt (a W3C traceparent): its events and the next
    #: occurrence it materialises carry it.
    traceparent: str | None = None
