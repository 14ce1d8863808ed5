"""`KafkaEventPublisher` with `security`: the settings it hands confluent-kafka's
Producer, which of them a caller may not override, and how it goes on when the first
login token does not come (read through a stand-in Producer: no broker is needed)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from scheduler.adapters import eventhubs, kafka
from scheduler.domain.events import Event, EventType, StoredEvent
from tests.unit.adapters.conftest import NO_FIRST_TOKEN, FakeCredential, RecordedProducers

ENDPOINT = "evhns-tsched-x1.servicebus.windows.net:9093"


def _security() -> dict[str, Any]:
    return eventhubs.producer_security(ENDPOINT, FakeCredential())


def _events(count: int) -> list[StoredEvent]:
    return [
        StoredEvent(
            outbox_id=number,
            event=Event(
                event_id=uuid.uuid4(),
                type=EventType.REMINDER_DUE,
                schedule_id=uuid.uuid4(),
                customer_id="customer-1",
                occurred_at=datetime(2027, 1, 25, 8, 0, tzinfo=UTC),
            ),
        )
        for number in range(1, count + 1)
    ]


def test_security_settings_reach_the_producer_beside_the_guarantees(
    producers: RecordedProducers,
) -> None:
    security = _security()

    with kafka.KafkaEventPublisher(ENDPOINT, "tsched.events", security=security):
        config = producers.last

    assert {name: config[name] for name in security} == security
    assert config["bootstrap.servers"] == ENDPOINT
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"


def test_without_security_the_producer_has_no_tls_or_sasl_settings(
    producers: RecordedProducers,
) -> None:
    with kafka.KafkaEventPublisher("127.0.0.1:9092", "tsched.events"):
        config = producers.last

    assert [name for name in config if kafka.is_security_setting(name)] == []


@pytest.mark.parametrize(
    "setting",
    [
        {"security.protocol": "PLAINTEXT"},
        {"sasl.mechanism": "PLAIN"},
        {"sasl.username": "$ConnectionString"},
        {"ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt"},
        {"enable.ssl.certificate.verification": False},
        {"oauth_cb": lambda _config: ("token", 0.0)},
    ],
    ids=lambda setting: next(iter(setting)),
)
def test_with_security_given_producer_config_may_not_override_any_security_setting(
    producers: RecordedProducers, setting: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=f"producer_config may not set {next(iter(setting))}"):
        kafka.KafkaEventPublisher(
            ENDPOINT, "tsched.events", security=_security(), producer_config=setting
        )
    assert producers.configs == []


def test_without_security_producer_config_may_still_set_tls_and_sasl(
    producers: RecordedProducers,
) -> None:
    tls = {"security.protocol": "SSL", "ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt"}

    with kafka.KafkaEventPublisher("broker:9093", "tsched.events", producer_config=tls):
        assert producers.last.items() >= tls.items()


@pytest.mark.parametrize(
    "setting", [{"acks": "1"}, {"socket.keepalive.enable": True}, {"error_cb": print}]
)
def test_security_may_hold_only_tls_and_sasl_settings(
    producers: RecordedProducers, setting: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="security may set only TLS and SASL settings"):
        kafka.KafkaEventPublisher(ENDPOINT, "tsched.events", security={**_security(), **setting})
    assert producers.configs == []


def test_no_first_token_leaves_the_publisher_without_a_producer_and_the_events_in_the_outbox(
    producers: RecordedProducers, caplog: pytest.LogCaptureFixture
) -> None:
    producers.refusals = [NO_FIRST_TOKEN, NO_FIRST_TOKEN]

    with caplog.at_level(logging.WARNING, logger="scheduler.adapters.kafka"):
        publisher = kafka.KafkaEventPublisher(ENDPOINT, "tsched.events", security=_security())
        assert publisher.status().reachable is False
        assert publisher.publish(_events(2)) == []

    assert producers.configs == []
    assert producers.refusals == []
    # One WARNING an interval (the publisher's BrokerLog), not one per attempt.
    [warning] = [record.getMessage() for record in caplog.records]
    assert "no producer without a login token" in warning
    assert "OAuth token not set" in warning
    publisher.close()


def test_once_a_token_comes_the_next_publish_creates_the_producer_and_sends(
    producers: RecordedProducers,
) -> None:
    producers.refusals = [NO_FIRST_TOKEN]
    publisher = kafka.KafkaEventPublisher(ENDPOINT, "tsched.events", security=_security())

    acknowledged = publisher.publish(_events(3))

    assert acknowledged == [1, 2, 3]
    assert len(producers.configs) == 1
    assert publisher.status().reachable is True
    publisher.close()


def test_other_refusals_to_create_the_producer_are_raised(producers: RecordedProducers) -> None:
    producers.refusals = [KafkaError(KafkaError._INVALID_ARG, "No such configuration property")]

    with pytest.raises(KafkaException, match="No such configuration property"):
        kafka.KafkaEventPublisher(ENDPOINT, "tsched.events", security=_security())


def test_a_publisher_without_a_producer_closes_at_once(producers: RecordedProducers) -> None:
    producers.refusals = [NO_FIRST_TOKEN]
    publisher = kafka.KafkaEventPublisher(ENDPOINT, "tsched.events", security=_security())

    publisher.close()
    publisher.close()

    with pytest.raises(RuntimeError, match="after close"):
        publisher.publish(_events(1))
