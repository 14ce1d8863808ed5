"""`KAFKA_SECURITY`: which settings are accepted, and the producer settings
`bootstrap.build` hands confluent-kafka in each mode (read through a stand-in Producer
and a stand-in managed identity: neither a broker nor Azure is needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from scheduler import bootstrap
from scheduler.adapters import eventhubs, kafka
from scheduler.config import Settings, load_settings
from tests.unit.adapters.conftest import FakeCredential, RecordedProducers

ENDPOINT = "evhns-tsched-x1.servicebus.windows.net:9093"
SCOPE = "https://evhns-tsched-x1.servicebus.windows.net/.default"
CLIENT_ID = "6f1c3c0e-5d0a-4f1e-9a57-8a3a2f0b9c11"


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kafka-settings.sqlite3'}"


class _Identities:
    """Stands in for `ManagedIdentityCredential` in bootstrap: records the arguments of
    each one created and returns a `FakeCredential`."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.credentials: list[FakeCredential] = []

    def __call__(self, **kwargs: Any) -> FakeCredential:
        self.created.append(kwargs)
        self.credentials.append(FakeCredential())
        return self.credentials[-1]


@pytest.fixture
def identities(monkeypatch: pytest.MonkeyPatch) -> _Identities:
    recorded = _Identities()
    monkeypatch.setattr(bootstrap, "ManagedIdentityCredential", recorded)
    return recorded


# The settings.


def test_kafka_security_is_none_by_default() -> None:
    assert load_settings().kafka_security == "none"


def test_event_hubs_with_its_kafka_endpoint_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY", "eventhubs")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", ENDPOINT)
    monkeypatch.setenv("KAFKA_TOPIC", "tsched.events")

    settings = load_settings()

    assert (settings.kafka_security, settings.kafka_bootstrap_servers) == ("eventhubs", ENDPOINT)


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        (None, "KAFKA_SECURITY=eventhubs needs KAFKA_BOOTSTRAP_SERVERS"),
        ("", "KAFKA_SECURITY=eventhubs needs KAFKA_BOOTSTRAP_SERVERS"),
        ("127.0.0.1:9092", "KAFKA_BOOTSTRAP_SERVERS must be an Event Hubs namespace's Kafka"),
        (
            "evhns-tsched-x1.servicebus.windows.net:443",
            "KAFKA_BOOTSTRAP_SERVERS must use port 9093",
        ),
        (f"{ENDPOINT},evhns-tsched-x2.servicebus.windows.net:9093", "not a list"),
    ],
)
def test_event_hubs_without_one_namespaces_kafka_endpoint_is_refused_saying_why(
    monkeypatch: pytest.MonkeyPatch, servers: str | None, message: str
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY", "eventhubs")
    if servers is not None:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", servers)

    with pytest.raises(ValidationError, match=message) as error:
        load_settings()

    assert "input_value" not in str(error.value)


def test_an_event_hubs_endpoint_without_its_security_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", ENDPOINT)

    with pytest.raises(ValidationError, match="set KAFKA_SECURITY=eventhubs"):
        load_settings()


@pytest.mark.parametrize("value", ["sasl_ssl", "EventHubs", "managedidentity"])
def test_kafka_security_is_none_or_eventhubs(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KAFKA_SECURITY", value)

    with pytest.raises(ValidationError, match="kafka_security") as error:
        load_settings()

    assert "'none' or 'eventhubs'" in str(error.value)


# The producer bootstrap builds.


def test_locally_the_producer_has_no_tls_sasl_or_credential(
    database_url: str, producers: RecordedProducers, identities: _Identities
) -> None:
    settings = Settings(database_url=database_url, kafka_bootstrap_servers="127.0.0.1:9092")

    runtime = bootstrap.build(settings)
    runtime.close()

    config = producers.last
    assert [name for name in config if kafka.is_security_setting(name)] == []
    assert not {"socket.keepalive.enable", "metadata.max.age.ms"} & config.keys()
    assert config["bootstrap.servers"] == "127.0.0.1:9092"
    assert identities.created == []


def test_on_event_hubs_the_producer_logs_in_with_the_managed_identitys_tokens(
    database_url: str, producers: RecordedProducers, identities: _Identities
) -> None:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap_servers=ENDPOINT,
        kafka_security="eventhubs",
        kafka_topic="bank.events",
        azure_client_id=CLIENT_ID,
    )

    runtime = bootstrap.build(settings)
    config = producers.last
    token = config["oauth_cb"](None)
    runtime.close()

    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "OAUTHBEARER"
    assert config["bootstrap.servers"] == ENDPOINT
    assert config.items() >= eventhubs.PRODUCER_TUNING.items()
    assert (config["enable.idempotence"], config["acks"]) == (True, "all")
    assert isinstance(runtime.publisher, kafka.KafkaEventPublisher)
    assert runtime.publisher.topic == "bank.events"
    assert identities.created == [{"client_id": CLIENT_ID}]
    [credential] = identities.credentials
    assert credential.asked == [(SCOPE,)]
    assert token == ("eyJ.token", 1_900_000_000.0)
    assert credential.closed


def test_a_system_assigned_identity_is_asked_without_a_client_id(
    database_url: str, producers: RecordedProducers, identities: _Identities
) -> None:
    settings = Settings(
        database_url=database_url, kafka_bootstrap_servers=ENDPOINT, kafka_security="eventhubs"
    )

    bootstrap.build(settings).close()

    assert identities.created == [{"client_id": None}]
    assert producers.last["security.protocol"] == "SASL_SSL"


def test_without_a_broker_no_producer_or_credential_is_made(
    database_url: str, producers: RecordedProducers, identities: _Identities
) -> None:
    runtime = bootstrap.build(Settings(database_url=database_url))
    runtime.close()

    assert runtime.publisher is None
    assert producers.configs == []
    assert identities.created == []
