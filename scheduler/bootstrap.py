"""Build the scheduler's parts from its settings: the one place that picks adapters.

The Functions app, `tsched serve`, the benchmark and the tests all assemble the engine
here, so they run the same code with different settings. The Functions app takes
`process_runtime()`, built once per worker process on first use.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from azure.identity import AzureCliCredential, ManagedIdentityCredential

from scheduler import logs, telemetry
from scheduler.adapters import blob_exports, eventhubs
from scheduler.adapters.corebanking import CoreBankingGateway
from scheduler.adapters.cosmos.archive import CosmosArchive
from scheduler.adapters.kafka import KafkaEventPublisher
from scheduler.adapters.ledger import Ledger
from scheduler.adapters.servicebus import ServiceBusQueues
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.history import SqlHistoryRepository
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.api.auth import DevelopmentSigner, JwksUrl, TokenVerifier
from scheduler.clocks import SystemClock
from scheduler.config import Settings, load_settings
from scheduler.metrics import MeasuredGateway
from scheduler.ports import (
    AccountDirectory,
    Archive,
    Clock,
    EventPublisher,
    ExportStore,
    PaymentGateway,
    QueueSender,
)
from scheduler.service.hot_window import WindowedHistory, hot_window_start

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """The scheduler's parts for one process. `ledger` is set when the embedded ledger
    is the payment gateway; `publisher` is None when events stay in the outbox."""

    settings: Settings
    engine: sa.Engine
    clock: Clock
    gateway: PaymentGateway
    ledger: Ledger | None
    publisher: EventPublisher | None
    worker: str
    #: Who holds which account: the books of the gateway that moves the money.
    accounts: AccountDirectory
    #: Called by `close`: release the clients the adapters opened.
    closers: tuple[Callable[[], None], ...] = ()
    #: Where large downloads are written for a link (`BLOB_ACCOUNT_URL`); None: no links.
    exports: ExportStore | None = None
    #: The history and audit archive (`COSMOS_ENDPOINT`); None keeps everything in SQL.
    archive: Archive | None = None
    #: The Service Bus queues (`SERVICEBUS_NAMESPACE`); None: no queue is sent to.
    queues: QueueSender | None = None

    def unit_of_work(self) -> SqlUnitOfWork:
        """A new unit of work on the store. With the archive on, its history reads
        ranges older than the hot window from the archive too (`hot_window`)."""
        archive = self.archive
        if archive is None:
            return SqlUnitOfWork(self.engine)

        def history(connection: sa.Connection) -> WindowedHistory:
            return WindowedHistory(
                store=SqlHistoryRepository(connection),
                unarchived=SqlHistoryRepository(connection, unarchived_only=True),
                archive=archive,
                hot_from=hot_window_start(self.clock.now(), self.settings.archive_hot_months),
            )

        return SqlUnitOfWork(self.engine, history=history)

    def close(self) -> None:
        """Flush and close the event publisher and the gateway's HTTP client, then
        release the database connections."""
        for close in self.closers:
            close()
        self.engine.dispose()


def build(settings: Settings, *, clock: Clock | None = None, worker: str | None = None) -> Runtime:
    """The parts `settings` describe, on `clock` (the system clock by default), for a
    worker named `worker` (host, process and a random suffix by default)."""
    engine = store_engine(settings)
    clock = clock or SystemClock()
    closers: list[Callable[[], None]] = []
    ledger = None
    gateway: PaymentGateway
    accounts: AccountDirectory
    if settings.core_banking_url is None:
        accounts = ledger = Ledger(engine, clock)
        gateway = MeasuredGateway(ledger)
    else:
        accounts = core_banking = CoreBankingGateway(settings.core_banking_url)
        gateway = MeasuredGateway(core_banking)
        closers.append(core_banking.close)
    publisher = None
    if settings.kafka_bootstrap_servers is not None:
        credential = kafka_credential(settings)
        publisher = kafka = kafka_publisher(
            settings, settings.kafka_bootstrap_servers, credential=credential
        )
        closers.append(kafka.close)
        if credential is not None:
            closers.append(credential.close)
    archive = history_archive(settings, clock)
    if archive is not None:
        closers.append(archive.close)
    exports = None
    if settings.blob_account_url is not None:
        exports = blob = blob_exports.open_store(
            settings.blob_account_url, client_id=settings.azure_client_id
        )
        closers.append(blob.close)
    queues = None
    if settings.servicebus_namespace is not None:
        identity = ManagedIdentityCredential(client_id=settings.azure_client_id)
        queues = servicebus = ServiceBusQueues(settings.servicebus_namespace, identity)
        closers.extend((servicebus.close, identity.close))
    return Runtime(
        archive=archive,
        settings=settings,
        engine=engine,
        clock=clock,
        gateway=gateway,
        ledger=ledger,
        publisher=publisher,
        worker=worker or default_worker_name(),
        accounts=accounts,
        closers=tuple(closers),
        exports=exports,
        queues=queues,
    )


def history_archive(settings: Settings, clock: Clock) -> CosmosArchive | None:
    """The Cosmos DB archive `COSMOS_ENDPOINT` names, reached as the managed identity
    (`AZURE_CLIENT_ID`), or None when the setting is empty. Nothing is sent until the
    archive is first used."""
    if settings.cosmos_endpoint is None:
        return None
    return CosmosArchive.connect(
        settings.cosmos_endpoint,
        ManagedIdentityCredential(client_id=settings.azure_client_id),
        database=settings.cosmos_database,
        clock=clock,
        retention=timedelta(days=settings.archive_retention_days),
    )


def store_engine(settings: Settings) -> sa.Engine:
    """The engine of the store `settings` name, logged in as `DATABASE_CREDENTIAL` says,
    with `DATABASE_POOL_SIZE` connections: what the runtime and `tsched migrate` use."""
    return create_engine(
        settings.database_url.get_secret_value(),
        credential=database_credential(settings),
        pool_size=settings.database_pool_size,
    )


def database_credential(settings: Settings) -> TokenCredential | None:
    """Whose Entra ID tokens log in to Azure SQL (`DATABASE_CREDENTIAL`): the managed
    identity (`AZURE_CLIENT_ID` when user-assigned), the Azure CLI's logged-in account,
    or none (the URL carries the login)."""
    if settings.database_credential == "managedidentity":
        return ManagedIdentityCredential(client_id=settings.azure_client_id)
    if settings.database_credential == "azurecli":
        return AzureCliCredential()
    return None


def kafka_credential(settings: Settings) -> ManagedIdentityCredential | None:
    """Whose Entra ID tokens log the outbox relay in to Kafka: with `KAFKA_SECURITY`
    `eventhubs`, the managed identity (`AZURE_CLIENT_ID` when user-assigned); else none."""
    if settings.kafka_security == "eventhubs":
        return ManagedIdentityCredential(client_id=settings.azure_client_id)
    return None


def kafka_publisher(
    settings: Settings, bootstrap_servers: str, *, credential: TokenCredential | None
) -> KafkaEventPublisher:
    """The outbox relay's publisher to `bootstrap_servers` and `KAFKA_TOPIC`, connected
    as `KAFKA_SECURITY` says: `none`, plain Kafka; `eventhubs`, the Event Hubs
    namespace's Kafka endpoint over SASL_SSL with OAUTHBEARER tokens of `credential`,
    and Microsoft's recommended settings for Event Hubs."""
    if settings.kafka_security == "eventhubs":
        if credential is None:
            raise ValueError("KAFKA_SECURITY=eventhubs needs a credential for its tokens")
        return KafkaEventPublisher(
            bootstrap_servers,
            settings.kafka_topic,
            security=eventhubs.producer_security(bootstrap_servers, credential),
            producer_config=eventhubs.PRODUCER_TUNING,
        )
    return KafkaEventPublisher(bootstrap_servers, settings.kafka_topic)


_process_runtime_lock = threading.Lock()


@functools.cache
def _process_runtime() -> Runtime:
    runtime = build(load_settings())
    # The host formats the worker's logs; masking is what we can add to them.
    logs.mask_all_handlers()
    # Kept for the process's life, like the runtime: the worker never shuts down cleanly
    # enough to flush, and the exporters send on their own timers meanwhile.
    telemetry.start(runtime)
    return runtime


def process_runtime() -> Runtime:
    """The runtime of this process, built from the settings on first use and kept for
    the process's life: what every Functions invocation on one worker shares. Nothing
    is built when a module imports this; a bad setting fails the first invocation,
    naming the setting. Thread-safe: the worker runs invocations on a thread pool, and
    a cold start must not build (and leak) two runtimes."""
    with _process_runtime_lock:
        return _process_runtime()


def default_worker_name() -> str:
    """A name unique to this process, readable in lease columns and logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def token_verifier(settings: Settings, *, development_keys: Path) -> TokenVerifier:
    """Who may call the API: tokens of the configured identity provider, or, with
    none configured, of the local development signer keeping its key in
    `development_keys` (`tsched token` signs with the same key)."""
    if settings.api_jwks_url is None or settings.api_issuer is None:
        return DevelopmentSigner(development_keys, audience=settings.api_audience).verifier()
    return TokenVerifier(
        JwksUrl(settings.api_jwks_url), issuer=settings.api_issuer, audience=settings.api_audience
    )
