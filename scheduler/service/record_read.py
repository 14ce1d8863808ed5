"""Use case: audit a privileged read.

Who looked at a customer's data must be findable: a read by operations staff or
auditors, or by a channel acting for a customer, leaves an audit record, in the read's
own transaction. A customer reading their own data leaves none: it is theirs, and the
reads of every app session would bury the ones that matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.domain.audit import AuditEntry
from scheduler.ports import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class Reader:
    """Who reads: as the audit trail names them (`actor`), the customer whose data they
    read for (None for staff, whose reads span customers), whether the read is
    privileged (staff, or a channel acting for a customer), and the request's
    correlation id."""

    actor: str
    customer_id: str | None
    privileged: bool
    correlation_id: str | None = None


def record_read(
    uow: UnitOfWork,
    *,
    reader: Reader,
    at: datetime,
    action: str,
    subject_type: str,
    details: dict[str, Any],
    subject_id: str = "*",
    customer_id: str | None = None,
) -> bool:
    """Append the audit record of a privileged read to `uow`'s transaction, which the
    caller commits; True if it did, False for a customer's own read (nothing to keep).

    `subject_id` "*" means every `subject_type` record matching the filters in `details`;
    `customer_id` is the customer whose data was read (default: the reader's), so that
    who looked at a customer's data can be found by customer."""
    if not reader.privileged:
        return False
    uow.audit.append(
        [
            AuditEntry(
                occurred_at=at,
                actor=reader.actor,
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                customer_id=customer_id if customer_id is not None else reader.customer_id,
                correlation_id=reader.correlation_id,
                details=details,
            )
        ]
    )
    return True
