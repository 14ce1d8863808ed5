"""Azure Event Hubs as the outbox relay's Kafka: the Kafka endpoint of a namespace,
reached over SASL_SSL and logged in with OAUTHBEARER tokens from Entra ID.

An Event Hubs namespace is one Kafka "cluster" behind one endpoint,
``<namespace>.servicebus.windows.net:9093``; an event hub is a topic. It takes TLS and
SASL only. With OAUTHBEARER, librdkafka asks confluent-kafka's ``oauth_cb`` for a token,
first when the producer is created and again before each token expires; `TokenSource`
answers with a token from an azure-identity credential for the namespace's scope,
``https://<namespace>.servicebus.windows.net/.default``. The identity needs the
"Azure Event Hubs Data Sender" role on the event hub (bicep/app/rbac.bicep).

Sources: Microsoft's "Apache Kafka client configurations for Azure Event Hubs" (the
librdkafka table: `PRODUCER_TUNING`) and its OAuth sample for confluent-kafka
(Azure/azure-event-hubs-for-kafka, tutorials/oauth/python).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = [
    "DNS_SUFFIXES",
    "KAFKA_PORT",
    "PRODUCER_TUNING",
    "TokenSource",
    "names_event_hubs",
    "namespace",
    "producer_security",
    "scope",
]

logger = logging.getLogger(__name__)

#: The port of a namespace's Kafka endpoint.
KAFKA_PORT = 9093
#: DNS suffixes of Event Hubs namespaces: Azure's public, China and US Government clouds.
DNS_SUFFIXES = (
    "servicebus.windows.net",
    "servicebus.chinacloudapi.cn",
    "servicebus.usgovcloudapi.net",
)

#: librdkafka settings Microsoft recommends for Event Hubs where librdkafka's default
#: does not fit: Azure drops a TCP connection idle for 240 s (keepalives, and metadata
#: refreshed within that), and Event Hubs wants requests to wait more than 20 s (60 s
#: recommended, also for idempotent producers).
PRODUCER_TUNING: dict[str, Any] = {
    "socket.keepalive.enable": True,
    "metadata.max.age.ms": 180_000,
    "request.timeout.ms": 60_000,
}

_NAMESPACE_NAME = re.compile(r"[a-z][a-z0-9-]{4,48}[a-z0-9]")
_HOST_SUFFIXES = tuple(f".{suffix}" for suffix in DNS_SUFFIXES)


def namespace(bootstrap_servers: str) -> str:
    """The fully qualified namespace (``<name>.servicebus.windows.net``, lower case)
    whose Kafka endpoint `bootstrap_servers` is.

    Raises ValueError, saying what is wrong but not repeating the value, unless it is
    exactly one ``<name>.servicebus.windows.net:9093`` (or another cloud's suffix,
    `DNS_SUFFIXES`): a list would need a token for each namespace, and only port 9093
    speaks Kafka."""
    servers = [server.strip() for server in bootstrap_servers.split(",")]
    if len(servers) != 1:
        raise ValueError("must be one namespace's Kafka endpoint, not a list")
    host, _, port = servers[0].rpartition(":")
    host = host.lower()
    name, _, suffix = host.partition(".")
    if suffix not in DNS_SUFFIXES or not _NAMESPACE_NAME.fullmatch(name):
        raise ValueError(
            "must be an Event Hubs namespace's Kafka endpoint, "
            "<namespace>.servicebus.windows.net:9093"
        )
    if port != str(KAFKA_PORT):
        raise ValueError(f"must use port {KAFKA_PORT}, the namespace's Kafka endpoint")
    return host


def names_event_hubs(bootstrap_servers: str) -> bool:
    """Whether any of the comma-separated `bootstrap_servers` is an Event Hubs host."""
    return any(
        server.strip().rpartition(":")[0].lower().endswith(_HOST_SUFFIXES)
        for server in bootstrap_servers.split(",")
    )


def scope(fully_qualified_namespace: str) -> str:
    """The Entra ID scope of tokens for a namespace's data plane, Kafka included."""
    return f"https://{fully_qualified_namespace}/.default"


class TokenSource:
    """confluent-kafka's ``oauth_cb`` for one Event Hubs namespace: called with the
    ``sasl.oauthbearer.config`` setting (unused), it asks `credential` for a token for
    exactly the namespace's scope and returns ``(token, expiry)``, the expiry in seconds
    since the epoch, as confluent-kafka expects. librdkafka asks again at 80% of the
    token's life; the credential returns its cached token until that is near expiry.

    librdkafka calls it on its own thread. A credential error is raised on, so
    librdkafka fails the token and tries again later (confluent-kafka only reports "OAuth
    callback raised exception"): it is logged here first, as one WARNING when tokens
    stop coming and one when they come again, the repeats in between at DEBUG. Tokens
    are never logged."""

    def __init__(self, credential: TokenCredential, fully_qualified_namespace: str) -> None:
        self.scope = scope(fully_qualified_namespace)
        self._credential = credential
        self._lock = threading.Lock()
        self._failing = False

    def __call__(self, _config: str | None = None) -> tuple[str, float]:
        try:
            token = self._credential.get_token(self.scope)
        except Exception as error:
            self._failed(error)
            raise
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            logger.warning("kafka: Entra ID tokens for %s come again", self.scope)
        return token.token, float(token.expires_on)

    def _failed(self, error: Exception) -> None:
        with self._lock:
            first, self._failing = not self._failing, True
        log = logger.warning if first else logger.debug
        log(
            "kafka: no Entra ID token for %s (%s: %s); librdkafka asks again",
            self.scope,
            type(error).__name__,
            error,
            extra={"scope": self.scope},
        )


def producer_security(bootstrap_servers: str, credential: TokenCredential) -> dict[str, Any]:
    """The librdkafka security settings for the Event Hubs namespace whose Kafka endpoint
    is `bootstrap_servers`: SASL_SSL (TLS with the system's CA certificates) and
    OAUTHBEARER with `credential`'s tokens. Raises ValueError as `namespace` does."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "OAUTHBEARER",
        "oauth_cb": TokenSource(credential, namespace(bootstrap_servers)),
    }
