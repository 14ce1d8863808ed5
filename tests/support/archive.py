"""An archive in memory: `HistoryArchive` and `AuditArchive` for unit tests. It passes
the same contract tests as `CosmosArchive` (tests/integration/test_cosmos_archive.py),
and can be told to fail the next writes, as a throttled or unreachable archive does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.domain.audit import AuditBlock, AuditRecord
from scheduler.ports import ArchivedAttempt, AuditQuery, HistoryEntry, HistoryQuery


@dataclass
class InMemoryArchive:
    """Items by key; `fail_next` writes are refused (and counted in `refused`)."""

    attempts: dict[int, ArchivedAttempt] = field(default_factory=dict)
    blocks: dict[int, AuditBlock] = field(default_factory=dict)
    records: dict[int, AuditRecord] = field(default_factory=dict)
    fail_next: int = 0
    refused: int = 0
    writes: int = 0

    def _accepts(self) -> bool:
        self.writes += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            self.refused += 1
            return False
        return True

    def put_attempts(self, attempts: Sequence[ArchivedAttempt]) -> list[int]:
        confirmed = []
        for attempt in attempts:
            if self._accepts():
                self.attempts[attempt.entry.id] = attempt
                confirmed.append(attempt.entry.id)
        return confirmed

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        found = sorted(
            (entry for entry in self._matching(query) if after is None or _before(entry, after)),
            key=lambda entry: (entry.finished_at, entry.id),
            reverse=True,
        )
        return found[:limit]

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        return min(len(self._matching(query)), at_most)

    def _matching(self, query: HistoryQuery) -> list[HistoryEntry]:
        return [
            attempt.entry
            for attempt in self.attempts.values()
            if attempt.customer_id == query.customer_id and _selects(query, attempt.entry)
        ]

    def put_blocks(self, blocks: Sequence[AuditBlock]) -> list[int]:
        confirmed = []
        for block in blocks:
            if self._accepts():
                self.blocks[block.block_no] = block
                confirmed.append(block.block_no)
        return confirmed

    def put_records(self, records: Sequence[AuditRecord]) -> list[int]:
        if any(record.block_no is None for record in records):
            raise ValueError("only sealed audit records are archived")
        confirmed = []
        for record in records:
            if self._accepts():
                self.records[record.seq] = record
                confirmed.append(record.seq)
        return confirmed

    def page_records(
        self, query: AuditQuery, *, before_seq: int | None, limit: int
    ) -> list[AuditRecord]:
        found = [
            record
            for seq, record in sorted(self.records.items(), reverse=True)
            if (before_seq is None or seq < before_seq) and _audit_selects(query, record)
        ]
        return found[:limit]

    def records_in_block(self, block_no: int) -> list[AuditRecord]:
        return sorted(
            (record for record in self.records.values() if record.block_no == block_no),
            key=lambda record: record.seq,
        )


def _before(entry: HistoryEntry, after: tuple[datetime, int]) -> bool:
    return (entry.finished_at, entry.id) < after


def _selects(query: HistoryQuery, entry: HistoryEntry) -> bool:
    equal = (
        (query.schedule_id, entry.schedule_id),
        (query.outcome, entry.outcome),
        (query.currency, entry.amount.currency.code),
    )
    if any(wanted is not None and wanted != value for wanted, value in equal):
        return False
    if query.finished_from is not None and entry.finished_at < query.finished_from:
        return False
    if query.finished_before is not None and entry.finished_at >= query.finished_before:
        return False
    if query.amount_min is not None and entry.amount.amount < query.amount_min:
        return False
    return query.amount_max is None or entry.amount.amount <= query.amount_max


def _audit_selects(query: AuditQuery, record: AuditRecord) -> bool:
    entry = record.entry
    equal = all(
        wanted is None or wanted == actual
        for wanted, actual in (
            (query.subject_type, entry.subject_type),
            (query.subject_id, entry.subject_id),
            (query.customer_id, entry.customer_id),
            (query.action, entry.action),
        )
    )
    after_from = query.occurred_from is None or entry.occurred_at >= query.occurred_from
    before_to = query.occurred_before is None or entry.occurred_at < query.occurred_before
    return equal and after_from and before_to
