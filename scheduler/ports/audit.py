"""The tamper-evident audit trail in the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scheduler.domain.audit import AuditBlock, AuditEntry, AuditRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """Which audit records a listing selects: those that occurred in [occurred_from,
    occurred_before) and whose other fields given (not None) are equal."""

    subject_type: str | None = None
    subject_id: str | None = None
    customer_id: str | None = None
    action: str | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None


class AuditRepository(Protocol):
    """The audit trail: writers append, the sealer seals, auditors verify."""

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Add records for `entries`, in order, unsealed."""
        ...

    def unsealed(self, limit: int) -> list[AuditRecord]:
        """Up to `limit` committed records no block holds yet, in sequence order."""
        ...

    def last_block(self) -> AuditBlock | None:
        """The newest sealed block, if any."""
        ...

    def add_block(self, block: AuditBlock, seqs: Sequence[int]) -> None:
        """Store `block` and mark the records `seqs` as sealed in it. Fails if another
        sealer stored a block with the same number first."""
        ...

    def blocks(self, after_block_no: int, limit: int) -> list[AuditBlock]:
        """Up to `limit` blocks numbered after `after_block_no`, in order."""
        ...

    def records_in_block(self, block_no: int) -> list[AuditRecord]:
        """The records sealed in block `block_no`, in sequence order."""
        ...

    def count_unsealed(self) -> int:
        """How many committed records no block holds yet."""
        ...

    def page(self, query: AuditQuery, *, before_seq: int | None, limit: int) -> list[AuditRecord]:
        """Up to `limit` records `query` selects, highest seq first, below `before_seq`
        if given."""
        ...
