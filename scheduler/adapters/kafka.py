"""The outbox relay's Kafka side: publishes stored events as CloudEvents with an
idempotent producer and reports which ones the broker acknowledged.

Delivery is at least once. `publish` returns only the outbox ids whose delivery report
came back without error (written to every in-sync replica: ``acks=all``); everything else
stays unpublished in the outbox and is sent again in a later round, with the same event
id. A later copy of an event can reach the topic when:

* a message was in flight when its time ran out: librdkafka reports it as timed out
  (status "possibly persisted") although the broker may have written it;
* the relay crashed, or its database commit failed, after the broker acknowledged;
* a relay stalled past its hold on the batch (`publish_outbox`'s lease, twice the
  delivery timeout) and another relay claimed the batch meanwhile.

Consumers therefore de-duplicate by the CloudEvent `id`.

What cannot happen is a message that `publish` gave up on being sent *later* by this
producer, behind a copy the next round sent: `message.timeout.ms` is the delivery
timeout, so librdkafka settles (delivers or fails) every message within it, and whatever
is still queued when `publish`'s deadline passes is purged from the producer's queue
before `publish` returns.

Order: the key is the schedule id, so one schedule's events share a partition, and the
idempotent producer keeps them in produce order within a round. If a round fails part
way, the failed events come again in the next round, after any later event of the same
schedule that did get through; consumers that need strict order compare the event
`time`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from confluent_kafka import KafkaError, KafkaException, Producer

from scheduler.adapters import cloudevents
from scheduler.domain.events import Event, StoredEvent
from scheduler.ports import BrokerStatus

logger = logging.getLogger(__name__)

#: Time librdkafka may take, after a message's timeout, to report it: it scans its
#: queues for expired messages once a second.
REPORT_GRACE_S = 1.5
#: How long `produce` waits for room when the local queue is full, per attempt.
_QUEUE_FULL_WAIT_S = 0.1

#: How often, at most, broker trouble that librdkafka logs reaches our log as a WARNING.
BROKER_LOG_INTERVAL_S = 60.0
#: librdkafka's global errors that mean no broker can be reached.
_UNREACHABLE = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE})

#: Settings the publisher owns: its guarantees rest on them.
_RESERVED = frozenset(
    {
        "bootstrap.servers",
        "enable.idempotence",
        "acks",
        "request.required.acks",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "error_cb",
        "logger",
    }
)
#: Settings of how the producer connects and proves who it is. Given as `security`, they
#: are the publisher's own as well: a stray ``security.protocol`` in `producer_config`
#: must not undo the SASL_SSL the settings asked for.
_SECURITY_NAMES = frozenset({"security.protocol", "oauth_cb"})
_SECURITY_PREFIXES = ("sasl.", "ssl.", "ssl_", "enable.sasl.", "enable.ssl.")


def is_security_setting(name: str) -> bool:
    """Whether the librdkafka setting `name` is about TLS or SASL (a `security` one)."""
    return name in _SECURITY_NAMES or name.startswith(_SECURITY_PREFIXES)


class BrokerLog:
    """Where librdkafka logs (the producer's ``logger``, called as ``log(level, fmt,
    *args)`` from inside poll and flush): its broker trouble, hundreds of reconnect
    errors for a 30 s outage, reaches our log as at most one WARNING an `interval`;
    the next one says how many more came meanwhile and the last of them. Below WARNING
    its lines pass through at DEBUG."""

    def __init__(
        self,
        interval: float = BROKER_LOG_INTERVAL_S,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._opened: float | None = None
        self._held = 0
        self._last = ""

    def log(self, level: int, fmt: str, *args: object) -> None:
        """Take one line from librdkafka."""
        message = fmt % args if args else fmt
        if level < logging.WARNING:
            logger.debug("kafka: %s", message)
            return
        with self._lock:
            now = self._monotonic()
            if self._opened is not None and now - self._opened < self.interval:
                self._held += 1
                self._last = message
                return
            self._opened = now
        self.flush()
        logger.warning(
            "kafka: %s (more within %.0f s are counted, not logged)",
            message,
            self.interval,
            extra={"broker_message": message},
        )

    def flush(self) -> None:
        """Log how many lines were held back since the last WARNING, if any."""
        with self._lock:
            held, last, self._held = self._held, self._last, 0
        if held:
            logger.warning(
                "kafka: %d more broker messages since, the last: %s",
                held,
                last,
                extra={"broker_messages": held},
            )


class KafkaEventPublisher:
    """`EventPublisher` writing CloudEvents (structured JSON) to one Kafka topic.

    Parameters
    ----------
    bootstrap_servers:
        Comma-separated ``host:port`` list.
    topic:
        Topic to write to; it should exist (the relay does not create it).
    security:
        librdkafka settings of TLS and SASL (`is_security_setting`), such as
        `eventhubs.producer_security`'s; nothing else may be given here. Given, they are
        the publisher's own: `producer_config` may set none of them.
    producer_config:
        Extra librdkafka settings (``reconnect.backoff.max.ms``, ..., and TLS or SASL
        when `security` is not given). The settings the guarantees rest on
        (idempotence, ``acks``, the message timeout, callbacks) are the publisher's
        own: giving one raises ValueError.
    delivery_timeout_s:
        How long a message may take to be acknowledged, retries included
        (librdkafka ``message.timeout.ms``). `publish` returns within this plus
        `REPORT_GRACE_S`, even with every broker down; plus up to 10 s when it must
        first create its producer and wait for a login token (see below).

    The message key is the schedule id (its text, UTF-8), so a schedule's events share a
    partition; ``murmur2_random`` partitions keys as the Java client does. Headers:
    ``content-type: application/cloudevents+json`` (structured mode of the CloudEvents
    Kafka binding) plus ``ce_id`` and ``ce_type`` copied from the event so consumers can
    route and de-duplicate without parsing the value; there is no ``ce_specversion``
    header, so binding-aware readers still take the message as structured.

    Not thread-safe: one relay calls `publish` at a time. Creating the publisher starts
    librdkafka's threads but sends nothing; call `close` when done. With OAUTHBEARER
    (an ``oauth_cb``), confluent-kafka waits up to 10 s for the first token as the
    producer is created; without one it raises, and the publisher goes on without a
    producer rather than fail what builds it: `publish` tries to create it again and,
    until that works, publishes nothing (the events stay in the outbox).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        security: Mapping[str, Any] | None = None,
        producer_config: Mapping[str, Any] | None = None,
        delivery_timeout_s: float = 30.0,
    ) -> None:
        if not topic:
            raise ValueError("topic must not be empty")
        if not delivery_timeout_s > 0:
            raise ValueError(f"delivery_timeout_s must be positive, not {delivery_timeout_s}")
        own = dict(security or {})
        extra = dict(producer_config or {})
        not_security = sorted(name for name in own if not is_security_setting(name))
        if not_security:
            raise ValueError(
                f"security may set only TLS and SASL settings, not {', '.join(not_security)}"
            )
        reserved = sorted(_RESERVED.intersection(extra))
        if own:
            reserved += sorted(name for name in extra if is_security_setting(name))
        if reserved:
            raise ValueError(f"producer_config may not set {', '.join(reserved)}")
        self.topic = topic
        self.delivery_timeout_s = delivery_timeout_s
        self.broker_log = BrokerLog()
        self._config: dict[str, Any] = {
            "client.id": "tsched-outbox-relay",
            "partitioner": "murmur2_random",
            **extra,
            **own,
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": max(1, round(delivery_timeout_s * 1000)),
            "error_cb": self._on_error,
            "logger": self.broker_log,
        }
        self._fatal: KafkaError | None = None
        self._closed = False
        self._status = BrokerStatus(reachable=None, since=None)
        self._producer: Any = self._new_producer()

    def publish(self, events: Sequence[StoredEvent]) -> list[int]:
        """Send `events` and wait, up to the delivery timeout plus `REPORT_GRACE_S`,
        for the broker's acknowledgements. Returns the outbox ids acknowledged without
        error, in the order given; the others are not delivered as far as we know and
        must be sent again later (see the module docstring for when that duplicates)."""
        if self._closed:
            raise RuntimeError("publish() after close()")
        if not events:
            return []
        if self._fatal is not None:
            self._replace_producer()
        elif self._producer is None:
            self._producer = self._new_producer()
        producer = self._producer
        if producer is None:
            return []
        deadline = time.monotonic() + self.delivery_timeout_s + REPORT_GRACE_S
        # Written by delivery callbacks, which run inside poll/flush on this thread. Each
        # round has its own dict, so a late report for an earlier round is ignored.
        confirmed: set[int] = set()
        failures: dict[str, int] = {}

        def report(outbox_id: int) -> Any:
            def on_delivery(error: KafkaError | None, _message: Any) -> None:
                if error is None:
                    confirmed.add(outbox_id)
                else:
                    name = error.name()
                    failures[name] = failures.get(name, 0) + 1

            return on_delivery

        produced = self._produce_all(producer, events, report, deadline)
        remaining = int(producer.flush(max(0.0, deadline - time.monotonic())))
        if remaining:
            # Never leave a message we gave up on to be sent after the next round's copy.
            producer.purge(in_queue=True, in_flight=False)
            producer.poll(0)
        acknowledged = [stored.outbox_id for stored in events if stored.outbox_id in confirmed]
        self._note(reachable=len(acknowledged) == len(events))
        if len(acknowledged) < len(events):
            logger.warning(
                "kafka acknowledged %s of %s events; the rest stay in the outbox",
                len(acknowledged),
                len(events),
                extra={
                    "topic": self.topic,
                    "not_produced": len(events) - produced,
                    "unsettled": remaining,
                    "failures": failures,
                },
            )
        return acknowledged

    def _produce_all(
        self, producer: Any, events: Sequence[StoredEvent], report: Any, deadline: float
    ) -> int:
        """Hand `events` to librdkafka in order; returns how many it took. Stops at the
        first one it cannot take (queue full past the deadline, fatal error), since
        producing later events of the same schedule would put them out of order."""
        for count, stored in enumerate(events):
            event = stored.event
            while True:
                try:
                    producer.produce(
                        self.topic,
                        key=str(event.schedule_id).encode("utf-8"),
                        value=cloudevents.encode(event),
                        headers=_headers(event),
                        on_delivery=report(stored.outbox_id),
                    )
                    break
                except BufferError:
                    if time.monotonic() >= deadline:
                        return count
                    producer.poll(_QUEUE_FULL_WAIT_S)
                except KafkaException as exc:
                    error = exc.args[0] if exc.args else None
                    if isinstance(error, KafkaError) and error.fatal():
                        self._fatal = error
                    logger.warning(
                        "kafka refused event %s: %s",
                        event.event_id,
                        exc,
                        extra={"topic": self.topic},
                    )
                    return count
            producer.poll(0)
        return len(events)

    def status(self) -> BrokerStatus:
        """Whether the brokers could be reached, as last seen, and since when."""
        return self._status

    def _note(self, *, reachable: bool) -> None:
        before = self._status.reachable
        if before is reachable:
            return
        self._status = BrokerStatus(reachable=reachable, since=datetime.now(UTC))
        if reachable and before is False:
            self.broker_log.flush()
            logger.warning("kafka: the brokers answer again", extra={"topic": self.topic})

    def _on_error(self, error: KafkaError) -> None:
        # Global errors (all brokers down, authentication): librdkafka retries on its own
        # and has logged the details through `broker_log`; `publish` warns about what was
        # not delivered. Only a fatal error (the idempotent producer lost its guarantees)
        # needs a new producer.
        if error.fatal():
            self._fatal = error
            logger.error("kafka producer failed fatally: %s", error, extra={"topic": self.topic})
            return
        if error.code() in _UNREACHABLE:
            self._note(reachable=False)
        logger.debug("kafka: %s", error, extra={"topic": self.topic})

    def _replace_producer(self) -> None:
        """Drop a producer that hit a fatal error (its messages all fail) for a new one."""
        logger.warning(
            "replacing the kafka producer after a fatal error: %s",
            self._fatal,
            extra={"topic": self.topic},
        )
        old = self._producer
        old.purge(in_queue=True, in_flight=True)
        old.poll(0)
        self._fatal = None
        self._producer = self._new_producer()

    def _new_producer(self) -> Any:
        """A producer on the publisher's settings, or None when the first OAUTHBEARER
        token could not be had (logged; the brokers count as unreachable). Any other
        refusal, such as an unknown setting, is raised."""
        try:
            return Producer(self._config)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not (
                isinstance(error, KafkaError)
                and error.code() == KafkaError.SASL_AUTHENTICATION_FAILED
            ):
                raise
            self._note(reachable=False)
            # Through `broker_log`: one WARNING an interval, however often publish tries.
            self.broker_log.log(
                logging.WARNING,
                "no producer without a login token (%s); the events stay in the outbox "
                "and the next publish tries again",
                error.str(),
            )
            return None

    def close(self, timeout_s: float | None = None) -> None:
        """Wait up to `timeout_s` (default: the delivery timeout) for messages still
        held, drop the rest from the queue, and release the producer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        producer = self._producer
        if producer is None:
            return
        wait = self.delivery_timeout_s if timeout_s is None else timeout_s
        if producer.flush(wait):
            producer.purge(in_queue=True, in_flight=True)
            producer.poll(0)
        producer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _headers(event: Event) -> list[tuple[str, bytes]]:
    """The message's headers: the CloudEvent's content type, id and type, and its trace
    context as `traceparent`, where tracing instrumentation for Kafka looks for it."""
    headers = [
        ("content-type", cloudevents.CONTENT_TYPE.encode("ascii")),
        ("ce_id", str(event.event_id).encode("ascii")),
        ("ce_type", event.type.value.encode("ascii")),
    ]
    if event.traceparent is not None:
        headers.append(("traceparent", event.traceparent.encode("ascii")))
    return headers
