"""The archive's two containers: names, partition keys, indexes, time to live.

In Azure, `bicep/app/cosmos.bicep` creates them (the app's identity has a data-plane role
only, which cannot create containers); `provision` creates the same for tests and for a
developer's own account or emulator. A test checks the two agree.

The composite index is what lets the history be read latest first by (finished_at, id):
Cosmos DB serves an ORDER BY on two properties only from a composite index of exactly
those properties, in that order or its reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from azure.cosmos import DatabaseProxy, PartitionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    """A container's definition."""

    name: str
    partition_key_path: str
    composite_indexes: tuple[tuple[tuple[str, str], ...], ...] = field(default=())

    def indexing_policy(self) -> dict[str, Any]:
        """The container's indexing policy: every path (the default) plus its composite
        indexes."""
        return {
            "indexingMode": "consistent",
            "automatic": True,
            "includedPaths": [{"path": "/*"}],
            "excludedPaths": [{"path": '/"_etag"/?'}],
            "compositeIndexes": [
                [{"path": path, "order": order} for path, order in index]
                for index in self.composite_indexes
            ],
        }


HISTORY = Container(
    name="history",
    partition_key_path="/customerId",
    composite_indexes=((("/finishedAt", "descending"), ("/rowId", "descending")),),
)
"""Execution attempts, one item per SQL row, partitioned by customer."""

AUDIT = Container(name="audit", partition_key_path="/partitionKey")
"""Sealed audit records and their blocks (partitions: `documents`)."""

CONTAINERS = (HISTORY, AUDIT)


def provision(database: DatabaseProxy, *, retention: timedelta) -> None:
    """Create the containers in `database` where missing, with time to live on (the
    default a backstop: each item carries its own `ttl`). Needs a key or a control-plane
    role; the app in Azure never calls it."""
    for container in CONTAINERS:
        database.create_container_if_not_exists(
            container.name,
            partition_key=PartitionKey(path=container.partition_key_path),
            indexing_policy=container.indexing_policy(),
            default_ttl=int(retention.total_seconds()),
        )
