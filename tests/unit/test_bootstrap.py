"""`bootstrap.build`: which adapters each combination of settings yields."""

from __future__ import annotations

import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from azure.identity import ManagedIdentityCredential

from scheduler import bootstrap
from scheduler.adapters.corebanking import CoreBankingGateway
from scheduler.adapters.kafka import KafkaEventPublisher
from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.clocks import SystemClock
from scheduler.config import Settings, load_settings
from scheduler.domain.money import Money
from scheduler.metrics import MeasuredGateway
from tests.support.clock import SettableClock


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


CORE_BANKING = "https://core.example.com/api"
#: Nothing listens on port 1: the publisher must be creatable without a broker.
NO_BROKER = "127.0.0.1:1"
CLIENT_ID = "6f1c3c0e-5d0a-4f1e-9a57-8a3a2f0b9c11"
AZURE_SQL = "mssql+pyodbc://tsched.database.windows.net/tsched?driver=ODBC+Driver+18+for+SQL+Server"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bootstrap.sqlite3'}"


def _close(runtime: bootstrap.Runtime) -> None:
    if isinstance(runtime.publisher, KafkaEventPublisher):
        runtime.publisher.close(timeout_s=0)
    runtime.close()


@pytest.mark.parametrize(
    ("core_banking_url", "kafka_bootstrap_servers", "gateway_type", "publisher_type"),
    [
        (None, None, Ledger, None),
        ("", "", Ledger, None),
        (CORE_BANKING, None, CoreBankingGateway, None),
        (None, NO_BROKER, Ledger, KafkaEventPublisher),
        (CORE_BANKING, NO_BROKER, CoreBankingGateway, KafkaEventPublisher),
    ],
    ids=["defaults", "empty-is-unset", "core-banking", "kafka", "core-banking-and-kafka"],
)
def test_settings_pick_the_gateway_and_the_publisher(
    database_url: str,
    core_banking_url: str | None,
    kafka_bootstrap_servers: str | None,
    gateway_type: type[object],
    publisher_type: type[object] | None,
) -> None:
    settings = Settings(
        database_url=database_url,
        core_banking_url=core_banking_url,
        kafka_bootstrap_servers=kafka_bootstrap_servers,
    )
    runtime = bootstrap.build(settings)
    try:
        assert runtime.settings is settings
        # The gateway moves the money through the books it is measured around.
        assert type(runtime.gateway) is MeasuredGateway
        assert type(runtime.accounts) is gateway_type
        if gateway_type is Ledger:
            assert runtime.ledger is runtime.accounts
        else:
            assert runtime.ledger is None
        if publisher_type is None:
            assert runtime.publisher is None
        else:
            assert type(runtime.publisher) is publisher_type
        assert runtime.engine.url.get_backend_name() == "sqlite"
    finally:
        _close(runtime)


def test_the_same_choices_are_made_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CORE_BANKING_URL", CORE_BANKING)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", NO_BROKER)
    monkeypatch.setenv("KAFKA_TOPIC", "bank.payments")
    runtime = bootstrap.build(load_settings())
    try:
        assert isinstance(runtime.accounts, CoreBankingGateway)
        assert runtime.ledger is None
        assert isinstance(runtime.publisher, KafkaEventPublisher)
        assert runtime.publisher.topic == "bank.payments"
    finally:
        _close(runtime)


def test_the_kafka_publisher_writes_to_the_configured_topic(database_url: str) -> None:
    runtime = bootstrap.build(
        Settings(database_url=database_url, kafka_bootstrap_servers=NO_BROKER)
    )
    try:
        assert isinstance(runtime.publisher, KafkaEventPublisher)
        assert runtime.publisher.topic == "tsched.events"
        # Nothing was sent, so publishing nothing answers at once, broker or not.
        assert runtime.publisher.publish([]) == []
    finally:
        _close(runtime)


def test_the_embedded_ledger_books_on_the_runtime_store_and_clock(database_url: str) -> None:
    clock = SettableClock(datetime(2027, 1, 25, 8, 0, tzinfo=UTC))
    runtime = bootstrap.build(Settings(database_url=database_url), clock=clock)
    try:
        assert runtime.clock is clock
        assert runtime.ledger is not None
        migrate.upgrade(runtime.engine)
        runtime.ledger.open_account(
            "GB-1", "alice", "GBP", opening_balance=Money.of("10.00", "GBP")
        )
        # A second ledger on the same database sees the account: the runtime's ledger
        # writes to the runtime's store, not somewhere of its own.
        assert Ledger(runtime.engine, clock).balance("GB-1") == Money.of("10.00", "GBP")
        assert runtime.ledger.reconcile().ok
    finally:
        _close(runtime)


def test_the_unit_of_work_is_on_the_runtime_engine(database_url: str) -> None:
    runtime = bootstrap.build(Settings(database_url=database_url))
    try:
        migrate.upgrade(runtime.engine)
        first, second = runtime.unit_of_work(), runtime.unit_of_work()
        assert isinstance(first, SqlUnitOfWork)
        assert first is not second
        with first as uow:
            assert uow.outbox.after(0, 10) == []
    finally:
        _close(runtime)


def test_the_clock_is_the_system_clock_unless_given(database_url: str) -> None:
    runtime = bootstrap.build(Settings(database_url=database_url))
    try:
        assert isinstance(runtime.clock, SystemClock)
    finally:
        _close(runtime)


def test_close_disposes_the_engine_connections(database_url: str) -> None:
    runtime = bootstrap.build(Settings(database_url=database_url))
    with runtime.engine.connect() as connection:
        connection.execute(sa.text("select 1"))
    pool = runtime.engine.pool
    assert pool.checkedin() == 1  # type: ignore[attr-defined]
    runtime.close()
    assert runtime.engine.pool is not pool
    assert runtime.engine.pool.checkedin() == 0  # type: ignore[attr-defined]


def test_worker_names_are_unique_per_call_and_name_host_and_process(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    runtimes = [bootstrap.build(settings) for _ in range(2)]
    try:
        names = [runtime.worker for runtime in runtimes]
    finally:
        for runtime in runtimes:
            _close(runtime)
    pattern = re.compile(rf"{re.escape(socket.gethostname())}-{os.getpid()}-[0-9a-f]{{6}}")
    assert all(pattern.fullmatch(name) for name in names), names
    assert names[0] != names[1]
    assert bootstrap.default_worker_name() != bootstrap.default_worker_name()


def test_an_explicit_worker_name_is_used(database_url: str) -> None:
    runtime = bootstrap.build(Settings(database_url=database_url), worker="worker-7")
    try:
        assert runtime.worker == "worker-7"
    finally:
        _close(runtime)


class _RecordedEngines:
    """Stands in for `create_engine`: records its arguments, returns in-memory SQLite
    (pyodbc and Azure SQL are not needed to check what bootstrap passes)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, url: str, *, credential: Any = None, **_options: Any) -> sa.Engine:
        self.calls.append((url, credential))
        return sa.create_engine("sqlite://")


def test_managed_identity_gives_the_engine_a_credential_for_the_client_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engines = _RecordedEngines()
    monkeypatch.setattr(bootstrap, "create_engine", engines)
    settings = Settings(
        database_url=AZURE_SQL, database_credential="managedidentity", azure_client_id=CLIENT_ID
    )
    _close(bootstrap.build(settings))
    [(url, credential)] = engines.calls
    assert url == AZURE_SQL
    assert isinstance(credential, ManagedIdentityCredential)
    credential.close()


def test_managed_identity_passes_the_client_id_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    engines = _RecordedEngines()
    created: list[dict[str, Any]] = []

    class FakeCredential:
        def __init__(self, **kwargs: Any) -> None:
            created.append(kwargs)

    monkeypatch.setattr(bootstrap, "create_engine", engines)
    monkeypatch.setattr(bootstrap, "ManagedIdentityCredential", FakeCredential)
    for client_id in (CLIENT_ID, None):
        settings = Settings(
            database_url=AZURE_SQL,
            database_credential="managedidentity",
            azure_client_id=client_id,
        )
        _close(bootstrap.build(settings))
    assert created == [{"client_id": CLIENT_ID}, {"client_id": None}]
    assert [type(credential) for _, credential in engines.calls] == [FakeCredential] * 2


def test_without_managed_identity_the_engine_gets_no_credential(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    engines = _RecordedEngines()
    monkeypatch.setattr(bootstrap, "create_engine", engines)
    _close(bootstrap.build(Settings(database_url=database_url)))
    assert engines.calls == [(database_url, None)]
