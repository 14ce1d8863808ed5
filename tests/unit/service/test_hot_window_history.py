"""Reading the history across the hot window's start: SQL answers the window; before
it, the archive and the attempts SQL has not handed over yet, one copy of each, in one
order, so pages and counts span the start as if one store held everything."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql.history import SqlHistoryRepository
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.ports import HistoryEntry, HistoryQuery
from scheduler.service.hot_window import WindowedHistory, hot_window_start
from scheduler.service.project_archive import project_archive
from scheduler.service.purge_hot_window import purge_hot_window
from tests.support.archive import InMemoryArchive
from tests.support.clock import SettableClock
from tests.support.history_rows import HistoryRows

MONTHS = 13
CUSTOMER = HistoryQuery(customer_id="customer-1")


class _Refusing(InMemoryArchive):
    """An archive that must not be asked."""

    def page_for_customer(self, *args: object, **kwargs: object) -> list[HistoryEntry]:
        raise AssertionError("the archive was read for a range inside the window")

    def count_for_customer(self, *args: object, **kwargs: object) -> int:
        raise AssertionError("the archive was counted for a range inside the window")


@pytest.fixture
def rows(engine: sa.Engine) -> HistoryRows:
    return HistoryRows(engine)


def _history(
    engine: sa.Engine, archive: InMemoryArchive, start: datetime
) -> tuple[WindowedHistory, sa.Connection]:
    connection = engine.connect()
    return (
        WindowedHistory(
            store=SqlHistoryRepository(connection),
            unarchived=SqlHistoryRepository(connection, unarchived_only=True),
            archive=archive,
            hot_from=start,
        ),
        connection,
    )


def _all_pages(history: WindowedHistory, query: HistoryQuery, size: int) -> list[int]:
    found: list[int] = []
    after = None
    while True:
        page = history.page_for_customer(query, after=after, limit=size)
        found += [entry.id for entry in page]
        if len(page) < size:
            return found
        after = (page[-1].finished_at, page[-1].id)


def test_pages_and_counts_span_the_window_start_with_one_copy_of_each_attempt(
    engine: sa.Engine, clock: SettableClock, rows: HistoryRows
) -> None:
    start = hot_window_start(clock.now(), MONTHS)
    ages = [timedelta(days=days) for days in (900, 800, 500, 420, 30, 1)]
    ids = [rows.add(clock.now() - age) for age in ages]
    archive = InMemoryArchive()
    # The three oldest are archived; two of them then leave SQL.
    project_archive(
        uow_factory=lambda: SqlUnitOfWork(engine), archive=archive, clock=clock, batch_size=3
    )
    purge_hot_window(uow=SqlUnitOfWork(engine), clock=clock, hot_months=MONTHS, limit=2)
    late = rows.add(clock.now() - timedelta(days=600))  # old, not archived yet
    history, connection = _history(engine, archive, start)
    try:
        every = _all_pages(history, CUSTOMER, size=2)
        count = history.count_for_customer(CUSTOMER, at_most=100)
        before_start = _all_pages(
            history, HistoryQuery(customer_id="customer-1", finished_before=start), size=10
        )
    finally:
        connection.close()

    assert every == [ids[5], ids[4], ids[3], ids[2], late, ids[1], ids[0]]
    assert count == 7
    assert before_start == [ids[3], ids[2], late, ids[1], ids[0]]


def test_a_range_inside_the_window_is_answered_by_sql_alone(
    engine: sa.Engine, clock: SettableClock, rows: HistoryRows
) -> None:
    start = hot_window_start(clock.now(), MONTHS)
    recent = rows.add(clock.now() - timedelta(days=1))
    rows.add(clock.now() - timedelta(days=900))
    history, connection = _history(engine, _Refusing(), start)
    try:
        query = HistoryQuery(customer_id="customer-1", finished_from=start)
        page = history.page_for_customer(query, after=None, limit=10)
        count = history.count_for_customer(query, at_most=10)
    finally:
        connection.close()

    assert [entry.id for entry in page] == [recent]
    assert count == 1
