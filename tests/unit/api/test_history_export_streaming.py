"""The downloads stream, proved by order of events rather than by timing: the history is
read in pages of bounded size, each in a unit of work that is over before the next
chunk goes out, and the body leaves in many chunks while reading is still going on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from bench.export_memory import download, seed_attempts
from scheduler import bootstrap
from scheduler.adapters.sql.history import SqlHistoryRepository
from scheduler.api import history_routes
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.api.exports import keyset
from scheduler.domain.money import Money
from tests.unit.api.conftest import NOW

ROWS = 2 * history_routes.EXPORT_PAGE_ROWS + 100


@pytest.mark.parametrize("extension", ["csv", "pdf"])
def test_an_export_reads_bounded_pages_and_sends_chunks_between_them(
    runtime: bootstrap.Runtime,
    signer: DevelopmentSigner,
    monkeypatch: pytest.MonkeyPatch,
    extension: str,
) -> None:
    seed_attempts(runtime.engine, "alice", [Money.of("5.00", "GBP")] * ROWS, first_finished_at=NOW)
    pool = runtime.engine.pool
    assert isinstance(pool, sa.QueuePool)
    events: list[tuple[str, int]] = []
    read_page = SqlHistoryRepository.page_for_customer

    def spy(repository: SqlHistoryRepository, *args: Any, **kwargs: Any) -> Any:
        found = read_page(repository, *args, **kwargs)
        events.append(("read", kwargs["limit"]))
        return found

    def sent(chunk: bytes) -> None:
        events.append(("chunk", pool.checkedout()))

    monkeypatch.setattr(SqlHistoryRepository, "page_for_customer", spy)
    app = create_app(runtime, signer.verifier())
    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")

    answer = asyncio.run(
        download(app, f"/v1/history/export.{extension}", {"Authorization": f"Bearer {token}"}, sent)
    )

    reads = [limit for kind, limit in events if kind == "read"]
    chunks = [held for kind, held in events if kind == "chunk"]
    last_read = max(index for index, (kind, _) in enumerate(events) if kind == "read")
    assert answer.status == 200
    assert reads == [history_routes.EXPORT_PAGE_ROWS] * 3
    assert len(chunks) > len(reads)
    assert events.index(("chunk", 0)) < last_read
    assert chunks == [0] * len(chunks), "a connection was held while a chunk went out"


def _reader(items: Sequence[int], calls: list[tuple[int | None, int]]) -> Any:
    def read(after: int | None, limit: int) -> Sequence[int]:
        calls.append((after, limit))
        start = 0 if after is None else items.index(after) + 1
        return items[start : start + limit]

    return read


@pytest.mark.parametrize(
    ("size", "cap", "pages", "calls"),
    [
        (7, 100, [[0, 1, 2], [3, 4, 5], [6]], [(None, 3), (2, 3), (5, 3)]),
        (6, 100, [[0, 1, 2], [3, 4, 5]], [(None, 3), (2, 3), (5, 3)]),
        (10, 7, [[0, 1, 2], [3, 4, 5], [6]], [(None, 3), (2, 3), (5, 1)]),
        (0, 100, [], [(None, 3)]),
    ],
)
def test_keyset_pages_read_after_the_last_item_up_to_the_cap(
    size: int, cap: int, pages: list[list[int]], calls: list[tuple[int | None, int]]
) -> None:
    made: list[tuple[int | None, int]] = []

    read = list(keyset.pages(_reader(list(range(size)), made), lambda n: n, page_size=3, cap=cap))

    assert read == pages
    assert made == calls
