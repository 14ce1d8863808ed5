"""Stand-ins for confluent-kafka's Producer and an azure-identity credential, so the
producer settings the publisher builds can be read without a broker or Azure."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.credentials import AccessToken
from confluent_kafka import KafkaError, KafkaException

from scheduler.adapters import kafka

#: What confluent-kafka (2.13 and later) raises when a producer with an ``oauth_cb`` gets
#: no token within 10 s of its creation (seen with 2.16.1).
NO_FIRST_TOKEN = KafkaError(
    KafkaError.SASL_AUTHENTICATION_FAILED, "OAuth token not set within 10 seconds timeout"
)


class RecordedProducers:
    """Stands in for `confluent_kafka.Producer` in `scheduler.adapters.kafka`: records
    the settings each producer is created with. While `refusals` holds errors, each
    creation raises the next of them, as confluent-kafka does, instead."""

    def __init__(self) -> None:
        self.configs: list[dict[str, Any]] = []
        self.refusals: list[KafkaError] = []

    def __call__(self, config: dict[str, Any]) -> _Producer:
        if self.refusals:
            raise KafkaException(self.refusals.pop(0))
        self.configs.append(dict(config))
        return _Producer(config)

    @property
    def last(self) -> dict[str, Any]:
        """The settings of the producer created last."""
        return self.configs[-1]


class _Producer:
    """Acknowledges every message as it is flushed."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._pending: list[Any] = []
        self.closed = False

    def produce(self, topic: str, **kwargs: Any) -> None:
        self._pending.append(kwargs["on_delivery"])

    def poll(self, _timeout: float = 0) -> int:
        return 0

    def flush(self, _timeout: float = 0) -> int:
        pending, self._pending = self._pending, []
        for report in pending:
            report(None, None)
        return 0

    def purge(self, **_kwargs: Any) -> None:
        self._pending.clear()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def producers(monkeypatch: pytest.MonkeyPatch) -> RecordedProducers:
    """Every producer the publisher creates in this test, recorded and not connected."""
    recorded = RecordedProducers()
    monkeypatch.setattr(kafka, "Producer", recorded)
    return recorded


class FakeCredential:
    """An azure-identity credential that records the scopes it is asked for and answers
    with `token`, or raises `error` while one is set."""

    def __init__(self, token: AccessToken | None = None) -> None:
        self.token = token or AccessToken("eyJ.token", 1_900_000_000)
        self.error: Exception | None = None
        self.asked: list[tuple[str, ...]] = []
        self.closed = False

    def get_token(self, *scopes: str, **_options: Any) -> AccessToken:
        self.asked.append(scopes)
        if self.error is not None:
            raise self.error
        return self.token

    def close(self) -> None:
        self.closed = True
