"""Use case: a page of the audit trail, across SQL and the archive.

With the archive on, SQL keeps the records of the hot window and every record the
archive has not confirmed; the purge deletes whole blocks of confirmed records, sealed
before the window's start (`archiver`). So a page whose range stays inside the window is
SQL's alone, and one that reaches back past its start merges SQL's page with the
archive's, one copy of each record (the same seq in both is the same record), newest
first by seq, the order both stores share.
"""

from __future__ import annotations

from datetime import datetime

from scheduler.domain.audit import AuditRecord
from scheduler.ports import AuditArchive, AuditQuery, UnitOfWork


def audit_page(
    uow: UnitOfWork,
    query: AuditQuery,
    *,
    before_seq: int | None,
    limit: int,
    archive: AuditArchive | None = None,
    hot_from: datetime | None = None,
) -> list[AuditRecord]:
    """Up to `limit` records `query` selects, highest seq first, below `before_seq` if
    given, read in `uow`'s open transaction and, when the range reaches back before
    `hot_from`, from `archive` too."""
    found = uow.audit.page(query, before_seq=before_seq, limit=limit)
    if archive is None or not _reaches_before(query, hot_from):
        return found
    archived = archive.page_records(query, before_seq=before_seq, limit=limit)
    merged = {record.seq: record for record in archived} | {record.seq: record for record in found}
    return [merged[seq] for seq in sorted(merged, reverse=True)[:limit]]


def _reaches_before(query: AuditQuery, hot_from: datetime | None) -> bool:
    if hot_from is None:
        return True
    return query.occurred_from is None or query.occurred_from < hot_from
