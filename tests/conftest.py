"""Session-wide real services: each starts on first use and stops at the end of the run.

A pure unit run starts nothing. A service that fails to start fails the tests that asked
for it, with the service's log tail in the error; nothing is skipped.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import pytest
import sqlalchemy as sa

from scheduler.adapters.cosmos import containers
from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import migrate
from scheduler.domain import audit
from tests.services import azurite, cosmos, kafka, postgres

pytest_plugins = ["tests.support.settings", "tests.support.log_scan"]

if TYPE_CHECKING:
    from collections.abc import Iterator

    from azure.cosmos import DatabaseProxy


class _Service(Protocol):
    def start(self) -> None: ...

    def close(self) -> None: ...


_ServiceT = TypeVar("_ServiceT", bound=_Service)

#: Seconds each service took to start, shown in the terminal summary.
_START_SECONDS = pytest.StashKey[dict[str, float]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_START_SECONDS] = {}


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    started = config.stash.get(_START_SECONDS, {})
    if not started:
        return
    terminalreporter.section("test services")
    for name, seconds in started.items():
        terminalreporter.write_line(f"{name} started in {seconds:.2f} s")


def _run(config: pytest.Config, name: str, service: _ServiceT) -> Iterator[_ServiceT]:
    began = time.monotonic()
    try:
        service.start()
    except BaseException:
        service.close()
        raise
    config.stash[_START_SECONDS][name] = time.monotonic() - began
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[postgres.PostgresServer]:
    """A throwaway PostgreSQL cluster (initdb included in its start time)."""
    yield from _run(request.config, "PostgreSQL", postgres.PostgresServer())


@pytest.fixture(params=["sqlite", "postgresql"])
def each_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A store migrated to head on SQLite, then on the session's PostgreSQL (a database
    of the test's own, dropped afterwards)."""
    if request.param == "sqlite":
        yield from _migrated(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        return
    with postgres.scratch_database(request.getfixturevalue("postgres_url"), "tsched_each") as url:
        yield from _migrated(url)


def _migrated(url: str) -> Iterator[sa.Engine]:
    engine = sql_engine.create_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def own_postgres_server() -> Iterator[postgres.PostgresServer]:
    """A PostgreSQL cluster of this test's own, for a test that stops and resumes it."""
    server = postgres.PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def own_postgres_store(own_postgres_server: postgres.PostgresServer) -> Iterator[sa.Engine]:
    """The app's database on `own_postgres_server`, migrated to head."""
    yield from _migrated(own_postgres_server.url_for(postgres.APP_DATABASE))


@pytest.fixture(scope="session")
def postgres_url(postgres_server: postgres.PostgresServer) -> str:
    """SQLAlchemy URL of the cluster's ``postgres`` database; ``tsched`` exists beside it."""
    return postgres_server.url


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[kafka.KafkaBroker]:
    """The running Kafka broker; a test may ``stop()`` and ``start()`` it (same ports, data)."""
    yield from _run(request.config, "Kafka", kafka.KafkaBroker())


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: kafka.KafkaBroker) -> str:
    """``bootstrap.servers`` for the session's Kafka broker."""
    return kafka_broker.bootstrap_servers


@pytest.fixture(scope="session")
def azurite_blob(request: pytest.FixtureRequest) -> Iterator[azurite.AzuriteBlob]:
    """Azurite's Blob service."""
    yield from _run(request.config, "Azurite", azurite.AzuriteBlob())


@pytest.fixture(scope="session")
def azurite_connection_string(azurite_blob: azurite.AzuriteBlob) -> str:
    """Storage connection string for Azurite's development account."""
    return azurite_blob.connection_string


@pytest.fixture(scope="session")
def cosmos_server(request: pytest.FixtureRequest) -> Iterator[cosmos.CosmosServer]:
    """A Cosmos DB compatible server over HTTPS (its gaps: tests/services/cosmos.py)."""
    yield from _run(request.config, "Cosmos DB server", cosmos.CosmosServer())


@pytest.fixture
def cosmos_archive_database(cosmos_server: cosmos.CosmosServer) -> Iterator[DatabaseProxy]:
    """A database of the test's own on the Cosmos DB server, with the archive's
    containers (seven years' retention), deleted after the test."""
    client = cosmos.client(cosmos_server.endpoint)
    name = cosmos_server.new_database_name()
    database = client.create_database(name)
    containers.provision(database, retention=timedelta(days=audit.RETENTION_DAYS))
    try:
        yield database
    finally:
        client.delete_database(name)
