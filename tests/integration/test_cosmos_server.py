"""The Cosmos DB compatible server started by the test command does what the archive
adapter relies on, and its known gaps (tests/services/cosmos.py) are as documented, so a
newer server that closes one shows up here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.cosmos import ContainerProxy, PartitionKey, exceptions

from tests.services import cosmos

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

COMPOSITE = [
    [{"path": "/at", "order": "descending"}, {"path": "/n", "order": "descending"}],
]


@pytest.fixture
def container(cosmos_server: cosmos.CosmosServer) -> Iterator[ContainerProxy]:
    client = cosmos.client(cosmos_server.endpoint)
    name = cosmos_server.new_database_name()
    database = client.create_database(name)
    try:
        yield database.create_container(
            "items",
            partition_key=PartitionKey(path="/pk"),
            default_ttl=60,
            indexing_policy={"compositeIndexes": COMPOSITE},
        )
    finally:
        client.delete_database(name)


def _ids(items: Iterator[dict[str, object]] | list[dict[str, object]]) -> list[object]:
    return [item["id"] for item in items]


def test_an_upsert_of_the_same_id_replaces_the_item(container: ContainerProxy) -> None:
    container.upsert_item({"id": "1", "pk": "a", "value": 1})
    container.upsert_item({"id": "1", "pk": "a", "value": 2})

    found = list(container.query_items("SELECT * FROM c WHERE c.pk = 'a'", partition_key="a"))

    assert [(item["id"], item["value"]) for item in found] == [("1", 2)]


def test_a_query_orders_by_two_fields_with_a_composite_index_and_pages_by_token(
    container: ContainerProxy,
) -> None:
    for n in range(1, 6):
        container.upsert_item({"id": str(n), "pk": "a", "at": "2027-01-01", "n": n})
    query = "SELECT * FROM c WHERE c.pk = @pk ORDER BY c.at DESC, c.n DESC"
    parameters: list[dict[str, object]] = [{"name": "@pk", "value": "a"}]

    pages = container.query_items(
        query, parameters=parameters, partition_key="a", max_item_count=2
    ).by_page()
    first = list(next(pages))
    token = pages.continuation_token
    rest = container.query_items(
        query, parameters=parameters, partition_key="a", max_item_count=2
    ).by_page(token)

    assert _ids(first) == ["5", "4"]
    assert _ids(next(rest)) == ["3", "2"]


def test_top_and_count_take_parameters(container: ContainerProxy) -> None:
    for n in range(1, 6):
        container.upsert_item({"id": str(n), "pk": "a", "at": "x", "n": n})

    top = container.query_items(
        "SELECT TOP @n * FROM c WHERE c.pk = 'a' AND c.n >= @least ORDER BY c.n",
        parameters=[{"name": "@n", "value": 2}, {"name": "@least", "value": 2}],
        partition_key="a",
    )
    count = container.query_items(
        "SELECT VALUE COUNT(1) FROM c WHERE c.pk = 'a'", partition_key="a"
    )

    assert _ids(top) == ["2", "3"]
    assert list(count) == [5]


def test_gap_a_missing_item_is_a_500_not_a_404(container: ContainerProxy) -> None:
    with pytest.raises(exceptions.CosmosHttpResponseError) as error:
        container.read_item("absent", partition_key="a")

    assert error.value.status_code == 500


def test_gap_the_partition_key_argument_of_a_query_is_ignored(container: ContainerProxy) -> None:
    container.upsert_item({"id": "1", "pk": "a"})
    container.upsert_item({"id": "2", "pk": "b"})

    found = container.query_items(
        "SELECT * FROM c", partition_key="a", enable_cross_partition_query=True
    )

    assert sorted(_ids(found)) == ["1", "2"]


def test_gap_transactional_batch_is_refused(container: ContainerProxy) -> None:
    with pytest.raises(exceptions.CosmosHttpResponseError):
        container.execute_item_batch([("upsert", ({"id": "1", "pk": "a"},))], partition_key="a")


def test_ttl_is_kept_on_the_container_and_the_item(container: ContainerProxy) -> None:
    # Kept, never acted on: the server expires nothing (only real Cosmos DB shows expiry).
    container.upsert_item({"id": "1", "pk": "a", "ttl": 1})

    assert container.read()["defaultTtl"] == 60
    found = list(container.query_items("SELECT * FROM c WHERE c.pk = 'a'", partition_key="a"))
    assert [(item["id"], item["ttl"]) for item in found] == [("1", 1)]
