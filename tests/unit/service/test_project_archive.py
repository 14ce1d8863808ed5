"""The archive projector copies history attempts and the sealed audit trail to the
archive, marks only what the archive confirmed, writes again what it did not, and finds
a row that committed after rows with higher ids were archived."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.service.project_archive import ProjectionResult, project_archive
from scheduler.service.seal_audit import seal_audit
from tests.support.archive import InMemoryArchive
from tests.support.archive_items import entry
from tests.support.clock import SettableClock
from tests.support.history_rows import HistoryRows


def _round(engine: sa.Engine, archive: InMemoryArchive, clock: SettableClock) -> ProjectionResult:
    return project_archive(
        uow_factory=lambda: SqlUnitOfWork(engine), archive=archive, clock=clock, batch_size=3
    )


def _marked(engine: sa.Engine, table: sa.Table) -> list[object]:
    with engine.connect() as connection:
        return list(
            connection.scalars(sa.select(table.c.archived_at).order_by(*table.primary_key.columns))
        )


def _append(engine: sa.Engine, count: int) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.audit.append([entry(number) for number in range(count)])
        uow.commit()


def test_attempts_and_the_sealed_audit_trail_reach_the_archive_and_are_marked(
    engine: sa.Engine, clock: SettableClock
) -> None:
    rows = HistoryRows(engine)
    ids = [rows.add(clock.now() - timedelta(minutes=n)) for n in range(2)]
    _append(engine, 2)
    seal_audit(uow_factory=lambda: SqlUnitOfWork(engine), clock=clock)
    archive = InMemoryArchive()

    first = _round(engine, archive, clock)
    second = _round(engine, archive, clock)

    assert first == ProjectionResult(attempts=2, blocks=1, records=2)
    assert second == ProjectionResult()
    assert sorted(archive.attempts) == ids
    assert sorted(archive.blocks) == [1]
    assert sorted(archive.records) == [1, 2]
    assert _marked(engine, tables.execution_attempt) == [clock.now()] * 2
    assert _marked(engine, tables.audit_record) == [clock.now()] * 2
    assert _marked(engine, tables.audit_block) == [clock.now()]


def test_records_wait_for_their_block_before_they_are_archived(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, 2)
    archive = InMemoryArchive()

    assert _round(engine, archive, clock) == ProjectionResult()
    seal_audit(uow_factory=lambda: SqlUnitOfWork(engine), clock=clock)
    assert _round(engine, archive, clock) == ProjectionResult(blocks=1, records=2)


def test_rows_the_archive_did_not_confirm_stay_unmarked_and_are_written_again(
    engine: sa.Engine, clock: SettableClock
) -> None:
    rows = HistoryRows(engine)
    ids = [rows.add(clock.now()) for _ in range(3)]
    archive = InMemoryArchive(fail_next=2)

    first = _round(engine, archive, clock)
    marked_after_first = _marked(engine, tables.execution_attempt)
    second = _round(engine, archive, clock)

    assert (first.attempts, first.not_confirmed) == (1, 2)
    assert marked_after_first.count(None) == 2
    assert (second.attempts, second.not_confirmed) == (2, 0)
    assert sorted(archive.attempts) == ids
    assert None not in _marked(engine, tables.execution_attempt)


def test_a_full_batch_asks_for_another_round_at_once(
    engine: sa.Engine, clock: SettableClock
) -> None:
    rows = HistoryRows(engine)
    for _ in range(4):
        rows.add(clock.now())
    archive = InMemoryArchive()

    assert _round(engine, archive, clock).more is True
    assert _round(engine, archive, clock) == ProjectionResult(attempts=1)


def test_an_attempt_committed_after_higher_ids_were_archived_is_still_archived(
    engine: sa.Engine, clock: SettableClock
) -> None:
    """Ids are handed out at insert and seen at commit: a transaction holding id 1 can
    commit after id 2 was archived. Simulated by writing id 1 last."""
    rows = HistoryRows(engine)
    rows.add(clock.now())
    rows.add(clock.now())
    with engine.begin() as connection:
        connection.execute(
            sa.delete(tables.execution_attempt).where(tables.execution_attempt.c.id == 1)
        )
    archive = InMemoryArchive()
    _round(engine, archive, clock)
    with engine.begin() as connection:
        late = connection.execute(
            sa.select(tables.execution_attempt).where(tables.execution_attempt.c.id == 2)
        ).one()
        connection.execute(
            sa.insert(tables.execution_attempt).values(
                {**late._asdict(), "id": 1, "attempt": 99, "archived_at": None}
            )
        )

    assert _round(engine, archive, clock).attempts == 1
    assert sorted(archive.attempts) == [1, 2]
