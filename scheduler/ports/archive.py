"""The archive the hot window's rows move to (Cosmos DB in Azure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scheduler.domain.audit import AuditBlock, AuditRecord
from scheduler.ports.audit import AuditQuery
from scheduler.ports.history import HistoryEntry, HistoryQuery
from scheduler.ports.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedAttempt:
    """A history row as the archive keeps it: the attempt, the customer it belongs to
    (by which the archive partitions it) and the worker that made it."""

    customer_id: str
    worker: str
    entry: HistoryEntry


class HistoryArchive(Protocol):
    """The execution history kept for the retention period (Cosmos DB), by customer.

    Reads answer as `HistoryRepository` does, over the archived attempts only."""

    def put_attempts(self, attempts: Sequence[ArchivedAttempt]) -> list[int]:
        """Store each attempt, replacing any earlier copy with its id (so storing again
        is harmless); return the ids the archive confirmed. An attempt not confirmed
        (the archive failed or throttled past its retries) is left out, and stays for
        the caller to store again."""
        ...

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        """Up to `limit` of the archived attempts `query` selects, latest first, after
        the (finished_at, id) position `after`."""
        ...

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        """How many archived attempts `query` selects, counting no further than
        `at_most`."""
        ...


class AuditArchive(Protocol):
    """The audit trail kept for the retention period (Cosmos DB): sealed records, each
    with its customer's others, and the blocks that seal them, so that a block is
    verified from the archive alone."""

    def put_blocks(self, blocks: Sequence[AuditBlock]) -> list[int]:
        """Store each block (its hash list included), idempotently by number; return
        the numbers the archive confirmed."""
        ...

    def put_records(self, records: Sequence[AuditRecord]) -> list[int]:
        """Store each sealed record, idempotently by seq; return the seqs the archive
        confirmed. Raises ValueError for a record not sealed yet."""
        ...

    def records_in_block(self, block_no: int) -> list[AuditRecord]:
        """The archived records sealed in block `block_no`, in sequence order."""
        ...

    def page_records(
        self, query: AuditQuery, *, before_seq: int | None, limit: int
    ) -> list[AuditRecord]:
        """Up to `limit` archived records `query` selects, highest seq first, below
        `before_seq` if given."""
        ...


class ArchiveMarks(Protocol):
    """SQL's side of the archive: which rows the archive has confirmed, and the purge
    of confirmed rows older than the hot window. Rows are read in key order and only
    while unconfirmed, so a row whose transaction commits late (a lower id after higher
    ones) is still found."""

    def unarchived_attempts(self, limit: int) -> list[ArchivedAttempt]:
        """Up to `limit` attempts the archive has not confirmed, lowest id first."""
        ...

    def unarchived_blocks(self, limit: int) -> list[AuditBlock]:
        """Up to `limit` sealed blocks the archive has not confirmed, lowest first."""
        ...

    def unarchived_records(self, limit: int) -> list[AuditRecord]:
        """Up to `limit` sealed records the archive has not confirmed, lowest seq first
        (records not sealed yet wait for their block)."""
        ...

    def mark_attempts(self, ids: Sequence[int], at: datetime) -> None:
        """Record that the archive confirmed the attempts `ids` at `at`."""
        ...

    def mark_blocks(self, block_nos: Sequence[int], at: datetime) -> None:
        """Record that the archive confirmed the blocks `block_nos` at `at`."""
        ...

    def mark_records(self, seqs: Sequence[int], at: datetime) -> None:
        """Record that the archive confirmed the records `seqs` at `at`."""
        ...

    def purge_attempts(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to `limit` attempts finished before `finished_before` that the
        archive has confirmed, oldest first; returns how many. Never an unconfirmed one."""
        ...

    def purge_blocks(self, *, sealed_before: datetime, limit: int, at: datetime) -> list[int]:
        """Delete the records of up to `limit` blocks sealed before `sealed_before`
        whose block and every record the archive has confirmed, and mark those blocks
        `records_purged_at = at`; returns their numbers. The block rows stay: they are
        the chain the next block links to, and verification reads their records from
        the archive."""
        ...


class ArchivingUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also keeps the archive's marks."""

    @property
    def archive_marks(self) -> ArchiveMarks: ...


class Archive(HistoryArchive, AuditArchive, Protocol):
    """The history and audit archive: both halves, one store (Cosmos DB)."""
