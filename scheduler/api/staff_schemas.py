"""The JSON shapes of the staff routes: operations waiting for a person, re-drives, the
audit trail and its verification.

Like the channels' shapes (`schemas`): amounts are decimal strings with a currency,
instants RFC 3339, account numbers show only their last four characters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import StringConstraints

from scheduler.api.schemas import PLAIN, AmountIn, Shape
from scheduler.domain.audit import AuditRecord
from scheduler.domain.operation import Operation
from scheduler.domain.retry import recommended_action
from scheduler.service.event_data import masked
from scheduler.service.redrive_operation import REDRIVABLE, Redriven
from scheduler.service.verify_audit import VerificationReport

#: The statuses the operations listing may be asked for: those a person re-drives from.
StoppedStatus = Literal["failed", "dead"]

#: Why a person did something: one line of text (`domain.text`), checked as sent, then
#: stripped of the spaces around it.
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400), PLAIN
]


class OperationView(Shape):
    """What every staff view of an operation shows: which it is, where it stands, the
    money it moves (accounts masked), and for one that stopped (failed or dead), why and
    what to do."""

    id: UUID
    schedule_id: UUID
    kind: str
    status: str
    attempts: int
    amount: AmountIn
    debit_account: str
    credit_account: str
    error_code: str | None
    reason: str | None
    recommended_action: str | None


class OperationOut(OperationView):
    """An operation as the operations listing shows it: also whose it is, which
    occurrence, when it was due and when it last changed."""

    customer_id: str
    occurrence_index: int
    due_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, operation: Operation, updated_at: datetime) -> OperationOut:
        """The JSON shape of a stored operation that last changed at `updated_at`."""
        return cls(
            **what_it_moves(operation),
            customer_id=operation.customer_id,
            occurrence_index=operation.occurrence_index,
            due_at=operation.due_at,
            updated_at=updated_at,
        )


def what_it_moves(operation: Operation) -> dict[str, Any]:
    """The fields of `OperationView` for `operation`."""
    stopped = operation.status in REDRIVABLE
    return {
        "id": operation.id,
        "schedule_id": operation.schedule_id,
        "kind": operation.kind.value,
        "status": operation.status.value,
        "attempts": operation.attempts,
        "amount": AmountIn(
            value=str(operation.amount.amount), currency=operation.amount.currency.code
        ),
        "debit_account": masked(operation.debit_account),
        "credit_account": masked(operation.credit_account),
        "error_code": operation.last_error_code,
        "reason": operation.last_error_reason,
        "recommended_action": recommended_action(operation.last_error_code) if stopped else None,
    }


class OperationPage(Shape):
    """A page of operations, latest change first; `next_cursor` fetches the next, if any."""

    items: list[OperationOut]
    next_cursor: str | None


class RedriveIn(Shape):
    """Why the operation is re-driven (kept in the audit trail)."""

    reason: Reason


class RedrivenOut(Shape):
    """A re-driven operation, now pending, and the status it left."""

    operation: OperationOut
    previous_status: str
    reason: str
    redriven_at: datetime

    @classmethod
    def of(cls, redriven: Redriven, reason: str) -> RedrivenOut:
        """The JSON shape of a re-drive's result."""
        return cls(
            operation=OperationOut.of(redriven.operation, redriven.at),
            previous_status=redriven.previous_status.value,
            reason=reason,
            redriven_at=redriven.at,
        )


class AuditRecordOut(Shape):
    """One audit record; `block_no` is null until the sealer has sealed it."""

    seq: int
    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    customer_id: str | None
    correlation_id: str | None
    details: dict[str, Any]
    block_no: int | None

    @classmethod
    def of(cls, record: AuditRecord) -> AuditRecordOut:
        """The JSON shape of a stored record."""
        entry = record.entry
        return cls(
            seq=record.seq,
            occurred_at=entry.occurred_at,
            actor=entry.actor,
            action=entry.action,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            customer_id=entry.customer_id,
            correlation_id=entry.correlation_id,
            details=entry.details,
            block_no=record.block_no,
        )


class AuditPage(Shape):
    """A page of audit records, newest first; `next_cursor` fetches the next, if any."""

    items: list[AuditRecordOut]
    next_cursor: str | None


class BrokenBlockOut(Shape):
    """The first block that did not verify, why, and which of its records differ, by
    sequence number: `changed_seqs` are still in the block but no longer match the hash
    sealed for them, `missing_seqs` were sealed in it and are gone (deleted or moved),
    `added_seqs` are in it but were never sealed there (inserted or moved in).
    `records_named` says whether those lists are complete; it is false, and they are
    empty, when the block row itself does not verify (`chain_break`,
    `hash_list_mismatch`) or the block was sealed before blocks kept a hash list."""

    block_no: int
    reason: str
    records_named: bool
    changed_seqs: list[int]
    missing_seqs: list[int]
    added_seqs: list[int]


class VerificationOut(Shape):
    """What verifying the audit trail covered and found. Unsealed records cannot be
    verified yet; they are counted, not failed."""

    blocks_checked: int
    #: Of `blocks_checked`, those whose records were read from the archive (purged
    #: from SQL after the hot window).
    blocks_from_archive: int
    records_checked: int
    unsealed_records: int
    ok: bool
    first_broken: BrokenBlockOut | None

    @classmethod
    def of(cls, report: VerificationReport) -> VerificationOut:
        """The JSON shape of a verification report."""
        broken = report.first_broken
        return cls(
            blocks_checked=report.blocks_checked,
            blocks_from_archive=report.blocks_from_archive,
            records_checked=report.records_checked,
            unsealed_records=report.unsealed_records,
            ok=report.ok,
            first_broken=(
                None
                if broken is None
                else BrokenBlockOut(
                    block_no=broken.block_no,
                    reason=broken.reason.value,
                    records_named=broken.records_named,
                    changed_seqs=list(broken.changed_seqs),
                    missing_seqs=list(broken.missing_seqs),
                    added_seqs=list(broken.added_seqs),
                )
            ),
        )
