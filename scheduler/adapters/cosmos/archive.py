"""`CosmosArchive`: the history and audit archive in Cosmos DB (NoSQL API).

Writes are upserts by id, so writing an item again (a projector retried after a crash,
two projectors at once) replaces it with the same content: the archive is written at
least once and holds each row once. Upserts run a few at a time on a thread pool; each
is confirmed on its own, and the caller is told which were (`put_*` return their keys),
so a failure leaves only its own rows to be written again.

Reads are parameterised queries that name the partition key in their WHERE clause
(always: a single-partition query is the cheap one, and the test server ignores the
`partition_key=` argument). Reading the records of one audit block is the one
cross-partition query: a block seals records of many customers.

Credentials are a seam: in Azure a `TokenCredential` (the app's managed identity, with
the Cosmos DB Built-in Data Contributor role); against the test server its master key.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy

from scheduler.adapters.cosmos import containers, documents
from scheduler.domain.audit import AuditBlock, AuditRecord
from scheduler.ports import ArchivedAttempt, AuditQuery, Clock, HistoryEntry, HistoryQuery

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

logger = logging.getLogger(__name__)

K = TypeVar("K")
T = TypeVar("T")

#: Upserts in flight at once. Each waits a few milliseconds on the network; eight keep a
#: batch of 500 rows near a second without a burst that throttling would answer.
DEFAULT_CONCURRENCY = 8

_Parameters = list[dict[str, Any]]


class CosmosArchive:
    """`HistoryArchive` and `AuditArchive` over one Cosmos DB database.

    `open_database` is called on first use, not on construction: the SDK's client
    contacts the account as it is built, and an archive out of reach must not stop a
    process (and its payments) from starting. `clock` and `retention` set each item's
    time to live: `retention` after the moment it records (an attempt's finish, a
    record's occurrence, a block's sealing)."""

    def __init__(
        self,
        open_database: Callable[[], DatabaseProxy],
        *,
        clock: Clock,
        retention: timedelta,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._open_database = open_database
        self._containers: tuple[ContainerProxy, ContainerProxy] | None = None
        self._lock = threading.Lock()
        self._clock = clock
        self._retention = retention
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tsched-cosmos")
        self._clients: list[CosmosClient] = []

    @classmethod
    def connect(
        cls,
        endpoint: str,
        credential: TokenCredential | str,
        *,
        database: str,
        clock: Clock,
        retention: timedelta,
        connection_verify: bool = True,
    ) -> CosmosArchive:
        """The archive in `database` of the account at `endpoint`, reached with
        `credential` (a token credential; a master key only for a test server or an
        emulator). `connection_verify=False` accepts a self-signed certificate, for a
        server on loopback only. Nothing is sent until the first call."""

        def open_database() -> DatabaseProxy:
            client = CosmosClient(
                endpoint, credential=credential, connection_verify=connection_verify
            )
            archive._clients.append(client)
            return client.get_database_client(database)

        archive = cls(open_database, clock=clock, retention=retention)
        return archive

    def close(self) -> None:
        """Wait for upserts in flight, then release the HTTP connections."""
        self._pool.shutdown(wait=True)
        for client in self._clients:
            client.close()

    def _history(self) -> ContainerProxy:
        return self._opened()[0]

    def _audit(self) -> ContainerProxy:
        return self._opened()[1]

    def _opened(self) -> tuple[ContainerProxy, ContainerProxy]:
        with self._lock:
            if self._containers is None:
                database = self._open_database()
                self._containers = (
                    database.get_container_client(containers.HISTORY.name),
                    database.get_container_client(containers.AUDIT.name),
                )
            return self._containers

    # History

    def put_attempts(self, attempts: Sequence[ArchivedAttempt]) -> list[int]:
        now = self._clock.now()
        return self._upsert(
            self._history,
            [
                (
                    attempt.entry.id,
                    documents.attempt_item(
                        attempt,
                        ttl_seconds=documents.ttl(
                            attempt.entry.finished_at, now=now, retention=self._retention
                        ),
                    ),
                )
                for attempt in attempts
            ],
            what="history attempts",
        )

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        where = _history_filter(query)
        if where is None:
            return []
        conditions, parameters = where
        if after is not None:
            conditions.append(
                "(c.finishedAt < @afterAt OR (c.finishedAt = @afterAt AND c.rowId < @afterId))"
            )
            parameters += [
                {"name": "@afterAt", "value": documents.instant(after[0])},
                {"name": "@afterId", "value": after[1]},
            ]
        # The conditions are this module's fixed text; every value is a parameter.
        where_clause = " AND ".join(conditions)
        items = self._history().query_items(
            f"SELECT TOP @limit * FROM c WHERE {where_clause}"  # noqa: S608 - values are parameters
            " ORDER BY c.finishedAt DESC, c.rowId DESC",
            parameters=[*parameters, {"name": "@limit", "value": limit}],
            partition_key=query.customer_id,
            max_item_count=min(limit, 1000),
        )
        return [documents.attempt_entry(item) for item in itertools.islice(items, limit)]

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        where = _history_filter(query)
        if where is None:
            return 0
        conditions, parameters = where
        where_clause = " AND ".join(conditions)
        counted = self._history().query_items(
            f"SELECT VALUE COUNT(1) FROM c WHERE {where_clause}",  # noqa: S608 - values are parameters
            parameters=parameters,
            partition_key=query.customer_id,
        )
        total: Any = next(iter(counted), 0)
        return min(int(total), at_most)

    # Audit

    def put_blocks(self, blocks: Sequence[AuditBlock]) -> list[int]:
        now = self._clock.now()
        return self._upsert(
            self._audit,
            [
                (
                    block.block_no,
                    documents.block_item(
                        block,
                        ttl_seconds=documents.ttl(
                            block.sealed_at, now=now, retention=self._retention
                        ),
                    ),
                )
                for block in blocks
            ],
            what="audit blocks",
        )

    def put_records(self, records: Sequence[AuditRecord]) -> list[int]:
        now = self._clock.now()
        return self._upsert(
            self._audit,
            [
                (
                    record.seq,
                    documents.record_item(
                        record,
                        ttl_seconds=documents.ttl(
                            record.entry.occurred_at, now=now, retention=self._retention
                        ),
                    ),
                )
                for record in records
            ],
            what="audit records",
        )

    def records_in_block(self, block_no: int) -> list[AuditRecord]:
        items = self._audit().query_items(
            "SELECT * FROM c WHERE c.type = @type AND c.blockNo = @blockNo",
            parameters=[
                {"name": "@type", "value": documents.RECORD},
                {"name": "@blockNo", "value": block_no},
            ],
            enable_cross_partition_query=True,
        )
        return sorted((documents.record_of(item) for item in items), key=lambda r: r.seq)

    def page_records(
        self, query: AuditQuery, *, before_seq: int | None, limit: int
    ) -> list[AuditRecord]:
        """One customer's records are one partition's; other listings read across
        partitions (the records of no customer are kept by month)."""
        conditions = ["c.type = @type"]
        parameters: _Parameters = [{"name": "@type", "value": documents.RECORD}]
        for name, field, value in (
            ("subjectType", "@subjectType", query.subject_type),
            ("subjectId", "@subjectId", query.subject_id),
            ("customerId", "@customerId", query.customer_id),
            ("action", "@action", query.action),
        ):
            if value is not None:
                conditions.append(f"c.{name} = {field}")
                parameters.append({"name": field, "value": value})
        for condition, field, moment in (
            ("c.occurredAt >= @from", "@from", query.occurred_from),
            ("c.occurredAt < @before", "@before", query.occurred_before),
        ):
            if moment is not None:
                conditions.append(condition)
                parameters.append({"name": field, "value": documents.instant(moment)})
        if before_seq is not None:
            conditions.append("c.seq < @beforeSeq")
            parameters.append({"name": "@beforeSeq", "value": before_seq})
        scope: dict[str, Any] = {"enable_cross_partition_query": True}
        if query.customer_id is not None:
            partition = documents.customer_partition(query.customer_id)
            # Also in the WHERE clause: the test server ignores `partition_key=`.
            conditions.append("c.partitionKey = @pk")
            parameters.append({"name": "@pk", "value": partition})
            scope = {"partition_key": partition}
        where_clause = " AND ".join(conditions)
        items = self._audit().query_items(
            f"SELECT TOP @limit * FROM c WHERE {where_clause} ORDER BY c.seq DESC",  # noqa: S608 - values are parameters
            parameters=[*parameters, {"name": "@limit", "value": limit}],
            max_item_count=min(limit, 1000),
            **scope,
        )
        return [documents.record_of(item) for item in itertools.islice(items, limit)]

    def block(self, block_no: int) -> AuditBlock | None:
        """The archived block `block_no`, if any (a query, not a point read: the test
        server answers a point read of a missing item with a 500)."""
        partition = documents.block_partition(block_no)
        items = self._audit().query_items(
            "SELECT * FROM c WHERE c.partitionKey = @pk AND c.id = @id",
            parameters=[
                {"name": "@pk", "value": partition},
                {"name": "@id", "value": f"block-{block_no}"},
            ],
            partition_key=partition,
        )
        found = next(iter(items), None)
        return None if found is None else documents.block_of(found)

    def _upsert(
        self,
        container: Callable[[], ContainerProxy],
        items: Sequence[tuple[K, dict[str, Any]]],
        *,
        what: str,
    ) -> list[K]:
        """Upsert every item, a few at a time; the keys of those confirmed, in order.
        An archive that cannot be opened confirms none."""
        if not items:
            return []
        try:
            opened = container()
        except AzureError as error:
            results: list[AzureError | None] = [error] * len(items)
        else:
            results = list(
                self._pool.map(lambda pair: _attempt(opened.upsert_item, pair[1]), items)
            )
        failures = [error for error in results if error is not None]
        if failures:
            logger.warning(
                "archive: %d of %d %s not confirmed (first: %s); they are written again later",
                len(failures),
                len(items),
                what,
                _describe(failures[0]),
                extra={"not_confirmed": len(failures), "archive_error": _describe(failures[0])},
            )
        return [key for (key, _), error in zip(items, results, strict=True) if error is None]


def _attempt(call: Callable[[T], object], argument: T) -> AzureError | None:
    try:
        call(argument)
    except AzureError as error:
        return error
    return None


def _describe(error: AzureError) -> str:
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__} {status}" if status is not None else type(error).__name__


def _history_filter(query: HistoryQuery) -> tuple[list[str], _Parameters] | None:
    """The WHERE conditions (partition key first) and parameters of `query`; None when
    no attempt can match (a least amount beyond any the store holds)."""
    conditions = ["c.customerId = @customerId"]
    parameters: _Parameters = [{"name": "@customerId", "value": query.customer_id}]
    equal: Iterable[tuple[str, object]] = (
        ("scheduleId", None if query.schedule_id is None else str(query.schedule_id)),
        ("outcome", query.outcome),
        ("currency", query.currency),
    )
    for name, value in equal:
        if value is not None:
            conditions.append(f"c.{name} = @{name}")
            parameters.append({"name": f"@{name}", "value": value})
    if query.finished_from is not None:
        conditions.append("c.finishedAt >= @finishedFrom")
        parameters.append(
            {"name": "@finishedFrom", "value": documents.instant(query.finished_from)}
        )
    if query.finished_before is not None:
        conditions.append("c.finishedAt < @finishedBefore")
        parameters.append(
            {"name": "@finishedBefore", "value": documents.instant(query.finished_before)}
        )
    if query.amount_min is not None:
        least = documents.amount_bound(query.amount_min, least=True)
        if least is None:
            return None
        conditions.append("c.amountKey >= @amountMin")
        parameters.append({"name": "@amountMin", "value": least})
    if query.amount_max is not None:
        greatest = documents.amount_bound(query.amount_max, least=False)
        conditions.append("c.amountKey <= @amountMax")
        parameters.append({"name": "@amountMax", "value": greatest})
    return conditions, parameters
