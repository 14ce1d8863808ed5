"""The archive's contract, kept by `CosmosArchive` against the Cosmos DB compatible
server and by the in-memory fake the unit tests use; then what only the Cosmos adapter
does: partitions, time to live, surviving an archive it cannot reach."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from azure.cosmos import DatabaseProxy

from scheduler.adapters.cosmos import containers, documents
from scheduler.adapters.cosmos.archive import CosmosArchive
from scheduler.domain import audit
from scheduler.ports import AuditQuery, HistoryQuery
from tests.services import cosmos
from tests.support.archive import InMemoryArchive
from tests.support.archive_items import FINISHED, attempt, entry, sealed
from tests.support.clock import SettableClock

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

RETENTION = timedelta(days=audit.RETENTION_DAYS)
NOW = FINISHED + timedelta(days=30)


@pytest.fixture
def database(cosmos_archive_database: DatabaseProxy) -> DatabaseProxy:
    return cosmos_archive_database


@pytest.fixture
def cosmos_archive(database: DatabaseProxy) -> Iterator[CosmosArchive]:
    archive = CosmosArchive(lambda: database, clock=SettableClock(NOW), retention=RETENTION)
    yield archive
    archive.close()


@pytest.fixture(params=["cosmos", "memory"])
def archive(request: pytest.FixtureRequest) -> Any:
    """Each implementation of the archive in turn."""
    if request.param == "memory":
        return InMemoryArchive()
    return request.getfixturevalue("cosmos_archive")


def _ids(entries: list[Any]) -> list[int]:
    return [entry.id for entry in entries]


# The contract


def test_attempts_read_back_latest_first_as_they_were_stored(archive: Any) -> None:
    stored = [attempt(1), attempt(2), attempt(3, customer_id="customer-2")]

    confirmed = archive.put_attempts(stored)
    page = archive.page_for_customer(HistoryQuery(customer_id="customer-1"), after=None, limit=10)

    assert confirmed == [1, 2, 3]
    assert page == [stored[1].entry, stored[0].entry]


def test_storing_an_attempt_again_keeps_one_copy(archive: Any) -> None:
    archive.put_attempts([attempt(1), attempt(2)])
    archive.put_attempts([attempt(2), attempt(1)])

    query = HistoryQuery(customer_id="customer-1")

    assert archive.count_for_customer(query, at_most=100) == 2
    assert _ids(archive.page_for_customer(query, after=None, limit=10)) == [2, 1]


def test_pages_follow_each_other_by_finish_time_then_id(archive: Any) -> None:
    same_time = FINISHED + timedelta(hours=1)
    archive.put_attempts([attempt(n, finished_at=same_time) for n in range(1, 5)])
    archive.put_attempts([attempt(5), attempt(6)])
    query = HistoryQuery(customer_id="customer-1")

    first = archive.page_for_customer(query, after=None, limit=3)
    last = first[-1]
    second = archive.page_for_customer(query, after=(last.finished_at, last.id), limit=3)
    third = archive.page_for_customer(query, after=(second[-1].finished_at, second[-1].id), limit=3)

    assert (_ids(first), _ids(second), _ids(third)) == ([4, 3, 2], [1, 6, 5], [])


def test_filters_select_by_schedule_status_currency_and_finish_time(archive: Any) -> None:
    other = UUID(int=2)
    archive.put_attempts(
        [
            attempt(1),
            attempt(2, schedule_id=other),
            attempt(3, outcome="failed"),
            attempt(4, currency="USD"),
            attempt(5),
        ]
    )

    def ids(**filters: Any) -> list[int]:
        query = HistoryQuery(customer_id="customer-1", **filters)
        found = archive.page_for_customer(query, after=None, limit=100)
        assert archive.count_for_customer(query, at_most=100) == len(found)
        return _ids(found)

    assert ids(schedule_id=other) == [2]
    assert ids(outcome="failed") == [3]
    assert ids(currency="USD") == [4]
    assert ids(
        finished_from=FINISHED + timedelta(minutes=2),
        finished_before=FINISHED + timedelta(minutes=5),
    ) == [4, 3, 2]


def test_amount_bounds_are_exact_and_inclusive(archive: Any) -> None:
    archive.put_attempts(
        [
            attempt(1, amount="99.99"),
            attempt(2, amount="100.00"),
            attempt(3, amount="100.01"),
            attempt(4, amount="999999999999999.99"),
        ]
    )

    def ids(least: str | None, greatest: str | None) -> list[int]:
        query = HistoryQuery(
            customer_id="customer-1",
            amount_min=None if least is None else Decimal(least),
            amount_max=None if greatest is None else Decimal(greatest),
        )
        return sorted(_ids(archive.page_for_customer(query, after=None, limit=10)))

    assert ids("100.00", "100.00") == [2]
    assert ids("99.995", "100.005") == [2]
    assert ids("100.00001", None) == [3, 4]
    assert ids(None, "99.99") == [1]
    assert ids("999999999999999.99", None) == [4]
    assert ids("1000000000000000000000", None) == []
    assert ids(None, "1000000000000000000000") == [1, 2, 3, 4]


def test_a_count_stops_at_its_bound(archive: Any) -> None:
    archive.put_attempts([attempt(n) for n in range(1, 6)])

    assert archive.count_for_customer(HistoryQuery(customer_id="customer-1"), at_most=3) == 3


def test_sealed_records_of_a_block_come_back_from_every_customer_hashing_as_sealed(
    archive: Any,
) -> None:
    block, records = sealed(
        [
            entry(1, details={"big": 12345678901234567890123, "ratio": 0.1, "list": [1, "a"]}),
            entry(2, customer_id=None),
            entry(3, customer_id="customer-2"),
        ]
    )
    _, other = sealed([entry(4)], first_seq=4, block_no=2)

    assert archive.put_blocks([block]) == [1]
    assert archive.put_records([*reversed(records), *other]) == [3, 2, 1, 4]
    found = archive.records_in_block(1)

    assert found == records
    assert audit.hash_list_digest(audit.hash_list(found)) == block.records_digest


def test_record_pages_run_newest_first_by_seq_with_each_filter(archive: Any) -> None:
    _, records = sealed(
        [
            entry(1),
            entry(2, customer_id=None),
            entry(3, customer_id="customer-2"),
            dataclasses.replace(entry(4), action="schedule.cancelled"),
            entry(5),
            entry(6, customer_id="customer-2"),
        ]
    )
    archive.put_records(records)

    def seqs(query: AuditQuery, before_seq: int | None = None, limit: int = 10) -> list[int]:
        return [r.seq for r in archive.page_records(query, before_seq=before_seq, limit=limit)]

    assert seqs(AuditQuery()) == [6, 5, 4, 3, 2, 1]
    assert seqs(AuditQuery(), limit=2) == [6, 5]
    assert seqs(AuditQuery(), before_seq=5, limit=2) == [4, 3]
    assert seqs(AuditQuery(customer_id="customer-2")) == [6, 3]
    assert seqs(AuditQuery(customer_id="customer-1"), before_seq=5) == [4, 1]
    assert seqs(AuditQuery(action="schedule.cancelled")) == [4]
    assert seqs(AuditQuery(subject_type="schedule", subject_id="schedule-2")) == [2]
    occurred = [record.entry.occurred_at for record in records]
    assert seqs(AuditQuery(occurred_from=occurred[1], occurred_before=occurred[4])) == [4, 3, 2]
    assert archive.page_records(AuditQuery(customer_id="customer-1"), before_seq=2, limit=5) == [
        records[0]
    ]


def test_a_record_not_sealed_yet_is_refused(archive: Any) -> None:
    with pytest.raises(ValueError, match="sealed"):
        archive.put_records([audit.AuditRecord(seq=1, entry=entry(1))])


# The Cosmos adapter


def _items(database: DatabaseProxy, container: containers.Container) -> list[dict[str, Any]]:
    return list(
        database.get_container_client(container.name).query_items(
            "SELECT * FROM c", enable_cross_partition_query=True
        )
    )


def test_items_live_in_their_customers_partitions_and_blocks_in_block_partitions(
    cosmos_archive: CosmosArchive, database: DatabaseProxy
) -> None:
    block, records = sealed([entry(1), entry(2, customer_id=None)], block_no=12_345)
    cosmos_archive.put_attempts([attempt(1)])
    cosmos_archive.put_blocks([block])
    cosmos_archive.put_records(records)

    history = _items(database, containers.HISTORY)
    audit_items = {item["id"]: item["partitionKey"] for item in _items(database, containers.AUDIT)}

    assert [(item["id"], item["customerId"]) for item in history] == [("1", "customer-1")]
    assert audit_items == {
        "block-12345": "blocks:1",
        "record-1": "customer:customer-1",
        "record-2": "system:2026-01",
    }
    assert cosmos_archive.block(12_345) == block
    assert cosmos_archive.block(1) is None


def test_each_item_expires_the_retention_after_it_happened_not_after_it_was_archived(
    cosmos_archive: CosmosArchive, database: DatabaseProxy
) -> None:
    cosmos_archive.put_attempts([attempt(1, finished_at=NOW - timedelta(days=10))])
    _, records = sealed([entry(1)])
    cosmos_archive.put_records(records)

    (history,) = _items(database, containers.HISTORY)
    (record,) = _items(database, containers.AUDIT)

    assert history["ttl"] == int((RETENTION - timedelta(days=10)).total_seconds())
    assert record["ttl"] == int((RETENTION - (NOW - records[0].entry.occurred_at)).total_seconds())
    assert database.get_container_client("history").read()["defaultTtl"] == int(
        RETENTION.total_seconds()
    )


def test_an_amount_is_kept_as_text_with_a_key_that_sorts_as_the_amounts_do(
    cosmos_archive: CosmosArchive, database: DatabaseProxy
) -> None:
    cosmos_archive.put_attempts([attempt(1, amount="123456789012345.67")])

    (item,) = _items(database, containers.HISTORY)

    assert (item["amount"], item["amountKey"]) == ("123456789012345.67", "11234567890123456700")
    assert documents.amount_key(Decimal("-1")) < documents.amount_key(Decimal("0"))


def test_an_archive_that_cannot_be_reached_confirms_nothing_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (port,) = cosmos.process.free_ports(1)
    archive = CosmosArchive.connect(
        f"https://127.0.0.1:{port}/",
        cosmos.MASTER_KEY,
        database="tsched",
        clock=SettableClock(NOW),
        retention=RETENTION,
        connection_verify=False,
    )
    try:
        with caplog.at_level(logging.WARNING):
            confirmed = archive.put_attempts([attempt(1), attempt(2)])
    finally:
        archive.close()

    assert confirmed == []
    assert "2 of 2 history attempts not confirmed" in caplog.text
