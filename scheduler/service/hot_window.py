"""The hot window: the months of history SQL keeps while the archive is on, and reading
the history across it.

A read of a range that reaches back past the window's start is answered from both
stores, because every attempt is in at least one of them: SQL holds every attempt of
the window (the purge never deletes inside it) and every attempt not archived yet (the
purge deletes only confirmed ones); the archive holds every confirmed attempt. Before
the start, the attempts SQL has not handed over (`unarchived`) are merged with the
archive's, one copy of each; from the start on, SQL alone answers. The keyset position
(finished_at, id) orders both stores the same way, so a page may span the start.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from scheduler.domain.operation import Outcome
from scheduler.ports import HistoryArchive, HistoryEntry, HistoryQuery, HistoryRepository

#: The purge deletes only attempts older than the window's start by this much, so that
#: clocks a little apart (two instances, a read and a purge) never disagree on whether
#: SQL still holds an attempt the window reads from it.
PURGE_MARGIN = timedelta(days=1)


def hot_window_start(now: datetime, months: int) -> datetime:
    """`months` calendar months before `now`, in UTC; the day clamps to the month's
    last (31 March less one month is 28 or 29 February)."""
    if months < 1:
        raise ValueError("the hot window holds at least one month")
    moment = now.astimezone(UTC)
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


class WindowedHistory:
    """`HistoryRepository` over SQL (`store`) and the archive, split at `hot_from`.

    `unarchived` is SQL's history seeing only attempts the archive has not confirmed.
    Writes go to SQL."""

    def __init__(
        self,
        *,
        store: HistoryRepository,
        unarchived: HistoryRepository,
        archive: HistoryArchive,
        hot_from: datetime,
    ) -> None:
        self._store = store
        self._unarchived = unarchived
        self._archive = archive
        self._hot_from = hot_from

    def add(self, outcomes: Sequence[Outcome], *, worker: str) -> None:
        self._store.add(outcomes, worker=worker)

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        hot, cold = self._split(query)
        found: list[HistoryEntry] = []
        if hot is not None and (after is None or after[0] >= self._hot_from):
            found = self._store.page_for_customer(hot, after=after, limit=limit)
        if cold is None or len(found) == limit:
            return found
        wanted = limit - len(found)
        # SQL first: an attempt marked archived between the two reads is then in both
        # answers (and kept once), never in neither.
        unarchived = self._unarchived.page_for_customer(cold, after=after, limit=wanted)
        archived = self._archive.page_for_customer(cold, after=after, limit=wanted)
        merged = {entry.id: entry for entry in archived} | {entry.id: entry for entry in unarchived}
        older = sorted(merged.values(), key=lambda entry: (entry.finished_at, entry.id))
        return found + older[::-1][:wanted]

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        """SQL's count of the window, plus SQL's unarchived and the archive's count
        before it. An attempt archived between the two counts is counted twice: a count
        caps an export, and erring high refuses a little early rather than cutting an
        export short."""
        hot, cold = self._split(query)
        total = 0 if hot is None else self._store.count_for_customer(hot, at_most=at_most)
        if cold is not None and total < at_most:
            total += self._unarchived.count_for_customer(cold, at_most=at_most - total)
            total += self._archive.count_for_customer(cold, at_most=max(0, at_most - total))
        return min(total, at_most)

    def _split(self, query: HistoryQuery) -> tuple[HistoryQuery | None, HistoryQuery | None]:
        """The part of `query` inside the window (None if empty), and the part before it."""
        start = self._hot_from
        hot: HistoryQuery | None = None
        cold: HistoryQuery | None = None
        if query.finished_before is None or query.finished_before > start:
            lower = query.finished_from
            hot = dataclasses.replace(
                query, finished_from=start if lower is None else max(lower, start)
            )
        if query.finished_from is None or query.finished_from < start:
            upper = query.finished_before
            cold = dataclasses.replace(
                query, finished_before=start if upper is None else min(upper, start)
            )
        return hot, cold
