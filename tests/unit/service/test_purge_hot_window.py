"""The hot-window purge deletes from SQL only what the archive confirmed and is older
than the window; audit records go by whole blocks, whose rows stay, and the trail still
verifies, from the archive for the purged blocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import audit
from scheduler.service.hot_window import PURGE_MARGIN, hot_window_start
from scheduler.service.project_archive import project_archive
from scheduler.service.purge_hot_window import PurgeResult, purge_hot_window
from scheduler.service.verify_audit import BreakReason, verify_audit
from tests.support import audit_trail
from tests.support.archive import InMemoryArchive
from tests.support.clock import SettableClock
from tests.support.history_rows import HistoryRows

MONTHS = 13


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (datetime(2027, 3, 31, 9, tzinfo=UTC), datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2028, 3, 31, 9, tzinfo=UTC), datetime(2027, 2, 28, 9, tzinfo=UTC)),
        (datetime(2027, 1, 15, tzinfo=UTC), datetime(2025, 12, 15, tzinfo=UTC)),
    ],
)
def test_the_window_starts_13_calendar_months_back_clamping_the_day(
    now: datetime, start: datetime
) -> None:
    assert hot_window_start(now, MONTHS) == start


def _purge(engine: sa.Engine, clock: SettableClock) -> PurgeResult:
    return purge_hot_window(uow=SqlUnitOfWork(engine), clock=clock, hot_months=MONTHS)


def _project(engine: sa.Engine, archive: InMemoryArchive, clock: SettableClock) -> None:
    project_archive(uow_factory=lambda: SqlUnitOfWork(engine), archive=archive, clock=clock)


def test_only_confirmed_attempts_older_than_the_window_leave_sql(
    engine: sa.Engine, clock: SettableClock
) -> None:
    rows = HistoryRows(engine)
    edge = hot_window_start(clock.now(), MONTHS) - PURGE_MARGIN
    old = rows.add(edge - timedelta(seconds=1))
    at_edge = rows.add(edge)
    recent = rows.add(clock.now())
    _project(engine, InMemoryArchive(), clock)
    old_unconfirmed = rows.add(edge - timedelta(days=30))

    result = _purge(engine, clock)

    assert result == PurgeResult(attempts=1, blocks=0, more=False)
    assert old not in rows.ids()
    assert rows.ids() == [at_edge, recent, old_unconfirmed]


def test_without_the_archive_nothing_is_ever_confirmed_so_nothing_is_purged(
    engine: sa.Engine, clock: SettableClock
) -> None:
    rows = HistoryRows(engine)
    ancient = rows.add(clock.now() - timedelta(days=3000))

    assert _purge(engine, clock).attempts == 0
    assert rows.ids() == [ancient]


def _audit_at(engine: sa.Engine, clock: SettableClock, when: datetime, count: int) -> None:
    """`count` sealed records that occurred at `when`, the first of no customer."""
    customers = [None if n == 0 else f"customer-{n}" for n in range(count)]
    audit_trail.write_sealed(engine, clock, when, customers)


def _records_per_block(engine: sa.Engine) -> dict[int, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(tables.audit_record.c.block_no, sa.func.count()).group_by(
                tables.audit_record.c.block_no
            )
        )
        return {block_no: count for block_no, count in rows}


def test_audit_records_leave_by_whole_confirmed_blocks_and_the_trail_still_verifies(
    engine: sa.Engine, clock: SettableClock
) -> None:
    now = clock.now()
    old = now - timedelta(days=500)
    _audit_at(engine, clock, old, 3)  # block 1, old
    _audit_at(engine, clock, old + timedelta(hours=1), 2)  # block 2, old, not archived
    archive = InMemoryArchive()
    _project(engine, archive, clock)
    _audit_at(engine, clock, now, 2)  # block 3, recent
    with engine.begin() as connection:  # block 2's second record was never confirmed
        connection.execute(
            sa.update(tables.audit_record)
            .where(tables.audit_record.c.seq == 5)
            .values(archived_at=None)
        )
    _project(engine, InMemoryArchive(fail_next=10), clock)

    result = _purge(engine, clock)
    report = verify_audit(uow=SqlUnitOfWork(engine), archive=archive)

    assert result == PurgeResult(attempts=0, blocks=1, more=False)
    assert _records_per_block(engine) == {2: 2, 3: 2}
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(tables.audit_block)) == 3
    assert report.ok
    assert (report.blocks_checked, report.records_checked, report.blocks_from_archive) == (3, 7, 1)


def test_a_purged_block_whose_archived_records_were_changed_fails_verification(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _audit_at(engine, clock, clock.now() - timedelta(days=500), 2)
    archive = InMemoryArchive()
    _project(engine, archive, clock)
    clock.advance_to(clock.now() + timedelta(days=500))
    _purge(engine, clock)
    forged = archive.records[2]
    archive.records[2] = audit.AuditRecord(
        seq=2,
        block_no=1,
        entry=audit.AuditEntry(**{**_fields(forged.entry), "actor": "user:mallory"}),
    )

    report = verify_audit(uow=SqlUnitOfWork(engine), archive=archive)
    without_archive = verify_audit(uow=SqlUnitOfWork(engine))

    assert report.first_broken is not None
    assert (report.first_broken.reason, report.first_broken.changed_seqs) == (
        BreakReason.RECORDS_DIGEST_MISMATCH,
        (2,),
    )
    assert without_archive.first_broken is not None
    assert without_archive.first_broken.reason is BreakReason.COUNT_MISMATCH


def _fields(entry: audit.AuditEntry) -> dict[str, object]:
    return {name: getattr(entry, name) for name in entry.__dataclass_fields__}
