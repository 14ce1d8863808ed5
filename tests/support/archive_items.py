"""Attempts, audit records and blocks to archive, with defaults a test overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from scheduler.domain import audit
from scheduler.domain.money import Money
from scheduler.ports import ArchivedAttempt, HistoryEntry

FINISHED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def attempt(
    row_id: int,
    *,
    customer_id: str = "customer-1",
    finished_at: datetime | None = None,
    amount: str = "100.00",
    currency: str = "EUR",
    outcome: str = "succeeded",
    schedule_id: UUID | None = None,
) -> ArchivedAttempt:
    """Attempt `row_id`, finished `row_id` minutes after `FINISHED` unless told."""
    finished = finished_at or FINISHED + timedelta(minutes=row_id)
    return ArchivedAttempt(
        customer_id=customer_id,
        worker="worker-1",
        entry=HistoryEntry(
            id=row_id,
            operation_id=uuid4(),
            schedule_id=schedule_id or UUID(int=1),
            kind="execution",
            attempt=1,
            due_at=finished - timedelta(seconds=5),
            started_at=finished - timedelta(seconds=1),
            finished_at=finished,
            outcome=outcome,
            error_code=None if outcome == "succeeded" else "insufficient_funds",
            reason=None if outcome == "succeeded" else "Not enough money on the account",
            recommended_action=None,
            gateway_reference="booking-1" if outcome == "succeeded" else None,
            debit_account="DE89370400440532013000",
            credit_account="DE02120300000000202051",
            amount=Money.of(amount, currency),
        ),
    )


def entry(
    number: int, *, customer_id: str | None = "customer-1", details: dict[str, Any] | None = None
) -> audit.AuditEntry:
    """An audit entry that occurred `number` seconds after `FINISHED`."""
    return audit.AuditEntry(
        occurred_at=FINISHED + timedelta(seconds=number),
        actor="user:alice",
        action="schedule.created",
        subject_type="schedule",
        subject_id=f"schedule-{number}",
        customer_id=customer_id,
        correlation_id=f"request-{number}",
        details={"n": number} if details is None else details,
    )


def sealed(
    entries: list[audit.AuditEntry], *, first_seq: int = 1, block_no: int = 1
) -> tuple[audit.AuditBlock, list[audit.AuditRecord]]:
    """A block sealing `entries` as records `first_seq` onwards, chained to genesis (or
    to nothing checked, past block 1), and its records."""
    records = [
        audit.AuditRecord(seq=first_seq + index, entry=item, block_no=block_no)
        for index, item in enumerate(entries)
    ]
    block = audit.seal(
        records,
        block_no=block_no,
        previous_hash=audit.GENESIS_HASH,
        sealed_at=entries[-1].occurred_at + timedelta(seconds=1),
    )
    return block, records
