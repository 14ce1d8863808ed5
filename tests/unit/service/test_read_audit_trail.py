"""The audit trail listed across SQL and the archive: after the hot-window purge, the
old records come from the archive, the new from SQL, one copy of each, newest first by
seq, pages following each other across the two; a range inside the window reads SQL
alone."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import audit
from scheduler.ports import AuditQuery
from scheduler.service.hot_window import hot_window_start
from scheduler.service.project_archive import project_archive
from scheduler.service.purge_hot_window import purge_hot_window
from scheduler.service.read_audit_trail import audit_page
from tests.support.archive import InMemoryArchive
from tests.support.audit_trail import write_sealed
from tests.support.clock import SettableClock

MONTHS = 13


def _seqs(
    engine: sa.Engine,
    archive: InMemoryArchive | None,
    clock: SettableClock,
    query: AuditQuery,
    *,
    before_seq: int | None = None,
    limit: int = 10,
) -> list[int]:
    with SqlUnitOfWork(engine) as uow:
        records = audit_page(
            uow,
            query,
            before_seq=before_seq,
            limit=limit,
            archive=archive,
            hot_from=hot_window_start(clock.now(), MONTHS),
        )
    return [record.seq for record in records]


def _archived_and_purged(engine: sa.Engine, clock: SettableClock) -> InMemoryArchive:
    """Records 1-3 (500 days old) archived and purged from SQL; 4 archived, still in
    SQL; 5-6 recent, in SQL only."""
    now = clock.now()
    write_sealed(engine, clock, now - timedelta(days=500), ["alice", "bob", "alice"])
    archive = InMemoryArchive()
    write_sealed(engine, clock, now - timedelta(days=10), ["bob"])
    project_archive(uow_factory=lambda: SqlUnitOfWork(engine), archive=archive, clock=clock)
    purge_hot_window(uow=SqlUnitOfWork(engine), clock=clock, hot_months=MONTHS)
    write_sealed(engine, clock, now, ["alice", "bob"])
    with SqlUnitOfWork(engine) as uow:
        in_sql = [r.seq for r in uow.audit.page(AuditQuery(), before_seq=None, limit=10)]
    assert in_sql == [6, 5, 4]
    return archive


def test_purged_records_are_listed_from_the_archive_once_each(
    engine: sa.Engine, clock: SettableClock
) -> None:
    archive = _archived_and_purged(engine, clock)

    assert _seqs(engine, archive, clock, AuditQuery()) == [6, 5, 4, 3, 2, 1]
    assert _seqs(engine, archive, clock, AuditQuery(customer_id="alice")) == [5, 3, 1]
    assert _seqs(engine, None, clock, AuditQuery()) == [6, 5, 4]


def test_pages_follow_each_other_across_sql_and_the_archive(
    engine: sa.Engine, clock: SettableClock
) -> None:
    archive = _archived_and_purged(engine, clock)

    first = _seqs(engine, archive, clock, AuditQuery(), limit=4)
    second = _seqs(engine, archive, clock, AuditQuery(), before_seq=first[-1], limit=4)

    assert (first, second) == ([6, 5, 4, 3], [2, 1])


def test_a_range_inside_the_hot_window_reads_sql_alone(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _archived_and_purged(engine, clock)
    inside = AuditQuery(occurred_from=clock.now() - timedelta(days=30))

    assert _seqs(engine, _Unreadable(), clock, inside) == [6, 5, 4]


class _Unreadable(InMemoryArchive):
    def page_records(
        self, query: AuditQuery, *, before_seq: int | None, limit: int
    ) -> list[audit.AuditRecord]:
        raise AssertionError("the archive was read")
