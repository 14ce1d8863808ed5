"""`eventhubs`: which endpoints are an Event Hubs namespace's Kafka endpoint, the token
callback confluent-kafka calls, and the settings it hands the publisher. The real Event
Hubs cannot be reached here: the credential is a stand-in, and librdkafka itself calls
the callback in the one test that creates a real producer."""

from __future__ import annotations

import logging
import re

import pytest
from azure.core.exceptions import ClientAuthenticationError

from scheduler.adapters import eventhubs, kafka
from tests.unit.adapters.conftest import FakeCredential

ENDPOINT = "evhns-tsched-x1.servicebus.windows.net:9093"
NAMESPACE = "evhns-tsched-x1.servicebus.windows.net"
SCOPE = "https://evhns-tsched-x1.servicebus.windows.net/.default"


@pytest.mark.parametrize(
    ("endpoint", "namespace"),
    [
        (ENDPOINT, NAMESPACE),
        (" EVHNS-Tsched-X1.ServiceBus.Windows.Net:9093 ", NAMESPACE),
        ("tsched-cn.servicebus.chinacloudapi.cn:9093", "tsched-cn.servicebus.chinacloudapi.cn"),
        ("tsched-gov.servicebus.usgovcloudapi.net:9093", "tsched-gov.servicebus.usgovcloudapi.net"),
    ],
)
def test_the_namespace_is_the_host_of_its_kafka_endpoint(endpoint: str, namespace: str) -> None:
    assert eventhubs.namespace(endpoint) == namespace


@pytest.mark.parametrize(
    ("endpoint", "complaint"),
    [
        ("evhns-tsched-x1.servicebus.windows.net:443", "port 9093"),
        ("evhns-tsched-x1.servicebus.windows.net", "<namespace>.servicebus.windows.net:9093"),
        (f"{ENDPOINT},other-namespace.servicebus.windows.net:9093", "not a list"),
        ("kafka.example.com:9093", "<namespace>.servicebus.windows.net:9093"),
        ("127.0.0.1:9093", "<namespace>.servicebus.windows.net:9093"),
        ("a.b.servicebus.windows.net:9093", "<namespace>.servicebus.windows.net:9093"),
        ("short.servicebus.windows.net:9093", "<namespace>.servicebus.windows.net:9093"),
        ("9tsched.servicebus.windows.net:9093", "<namespace>.servicebus.windows.net:9093"),
        ("sb://tsched-x.servicebus.windows.net:9093", "<namespace>.servicebus.windows.net:9093"),
    ],
)
def test_anything_but_one_namespaces_kafka_endpoint_is_refused_saying_why(
    endpoint: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        eventhubs.namespace(endpoint)


def test_an_event_hubs_host_is_recognised_in_a_list_whatever_its_port() -> None:
    assert eventhubs.names_event_hubs(f"127.0.0.1:9092, {NAMESPACE}:443")
    assert not eventhubs.names_event_hubs("127.0.0.1:9092,kafka.example.com:9093")
    assert not eventhubs.names_event_hubs("servicebus.windows.net.example.com:9093")


def test_the_token_callback_asks_for_exactly_the_namespaces_scope() -> None:
    credential = FakeCredential()
    source = eventhubs.TokenSource(credential, NAMESPACE)

    source("unused sasl.oauthbearer.config")
    source(None)

    assert credential.asked == [(SCOPE,), (SCOPE,)]
    assert source.scope == SCOPE


def test_the_token_callback_returns_the_token_and_its_expiry_in_epoch_seconds() -> None:
    token, expiry = eventhubs.TokenSource(FakeCredential(), NAMESPACE)(None)

    assert token == "eyJ.token"
    assert expiry == 1_900_000_000.0
    assert isinstance(expiry, float)


def test_a_credential_failure_is_raised_on_and_warned_once_until_tokens_come_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    credential = FakeCredential()
    credential.error = ClientAuthenticationError("no managed identity endpoint")
    source = eventhubs.TokenSource(credential, NAMESPACE)

    with caplog.at_level(logging.DEBUG, logger="scheduler.adapters.eventhubs"):
        for _ in range(3):
            with pytest.raises(ClientAuthenticationError):
                source(None)
        credential.error = None
        source(None)

    levels = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert [level for level, _ in levels] == [
        logging.WARNING,
        logging.DEBUG,
        logging.DEBUG,
        logging.WARNING,
    ]
    assert "ClientAuthenticationError: no managed identity endpoint" in levels[0][1]
    assert SCOPE in levels[0][1]
    assert "come again" in levels[-1][1]
    assert all("eyJ.token" not in message for _, message in levels)


def test_the_security_settings_are_sasl_ssl_with_oauthbearer_tokens_of_the_credential() -> None:
    credential = FakeCredential()

    security = eventhubs.producer_security(ENDPOINT, credential)

    assert security.keys() == {"security.protocol", "sasl.mechanism", "oauth_cb"}
    assert security["security.protocol"] == "SASL_SSL"
    assert security["sasl.mechanism"] == "OAUTHBEARER"
    assert security["oauth_cb"](None) == ("eyJ.token", 1_900_000_000.0)
    assert credential.asked == [(SCOPE,)]
    assert all(kafka.is_security_setting(name) for name in security)


def test_security_settings_are_refused_for_an_endpoint_that_is_not_event_hubs() -> None:
    with pytest.raises(ValueError, match=r"servicebus\.windows\.net:9093"):
        eventhubs.producer_security("kafka.example.com:9093", FakeCredential())


def test_the_tuning_follows_microsofts_librdkafka_recommendations_for_event_hubs() -> None:
    tuning = eventhubs.PRODUCER_TUNING

    assert tuning["socket.keepalive.enable"] is True
    assert tuning["metadata.max.age.ms"] < 240_000  # Azure drops connections idle 240 s
    assert tuning["request.timeout.ms"] >= 60_000  # more than 20 s; 60 s recommended
    assert not any(kafka.is_security_setting(name) for name in tuning)


def test_librdkafka_takes_the_callbacks_token_as_the_producer_is_created() -> None:
    # A real producer: confluent-kafka calls oauth_cb while creating it and raises after
    # 10 s if no token was set. Nothing listens on port 1; only the token is exercised.
    credential = FakeCredential()
    publisher = kafka.KafkaEventPublisher(
        "127.0.0.1:1",
        "tsched.events",
        security=eventhubs.producer_security(ENDPOINT, credential),
        delivery_timeout_s=0.5,
    )
    try:
        assert credential.asked[:1] == [(SCOPE,)]
        assert publisher.status().reachable is None
    finally:
        publisher.close(timeout_s=0)
