"""Moving money and knowing accounts: the payment gateway (core banking, or the
embedded ledger) and the account directory."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scheduler.domain.errors import SchedulerError
from scheduler.domain.money import Money


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRequest:
    """Move `amount` from `debit_account` to `credit_account`, once.

    `idempotency_key` is the operation id: a gateway given the same key again returns
    the result of the first successful transfer instead of moving money twice.
    """

    idempotency_key: str
    debit_account: str
    credit_account: str
    amount: Money
    reference: str


class TransferOutcome(enum.StrEnum):
    """What a gateway says happened to a transfer."""

    #: The money moved (now, or by an earlier request with the same key).
    BOOKED = "booked"
    #: Declined for a business reason that may change (insufficient funds).
    DECLINED_RETRYABLE = "declined_retryable"
    #: Declined for a reason retrying cannot fix (closed account, currency mismatch).
    REJECTED = "rejected"
    #: The gateway could not answer (timeout, 5xx, connection lost): the money may or
    #: may not have moved; retrying with the same key is safe.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferResult:
    """A gateway's answer. `reference` is the booking id when BOOKED; `code` and
    `reason` say why otherwise (stable codes such as "insufficient_funds")."""

    outcome: TransferOutcome
    reference: str | None = None
    code: str | None = None
    reason: str | None = None


class PaymentGateway(Protocol):
    """The system that moves the money: the embedded ledger or core banking."""

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        """Execute each request, idempotently by its key; one result per request, in
        order. A failure of one request never affects another's result. Must not raise
        for a single transfer's failure: report it as that transfer's result."""
        ...


class AccountDirectoryUnavailable(SchedulerError):
    """The bank's books could not be asked who holds an account; try again shortly."""

    code = "account_directory_unavailable"


class AccountDirectory(Protocol):
    """Who holds which account, as the bank's books say."""

    def holds(self, customer_id: str, account_id: str) -> bool:
        """Whether `customer_id` holds the open account `account_id`. Raises
        `AccountDirectoryUnavailable` when the books cannot be asked."""
        ...
