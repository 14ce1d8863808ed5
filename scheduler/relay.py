"""The outbox relay of `tsched serve`, on a thread of its own beside the dispatcher.

Publishing waits on the broker, for up to its delivery timeout when the broker is down,
so it must not share a loop with payments: a Kafka outage here grows the outbox and
delays no claim and no transfer. (In Azure the relay orchestration does the same job,
apart from the dispatch orchestration.) Each round is `publish_outbox`, bounded by the
publisher's delivery timeout; a failure is logged and tried again after a doubling
wait; the events stay in the outbox until the bus acknowledges them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.adapters.sql import transient
from scheduler.backoff import Backoff
from scheduler.bootstrap import Runtime
from scheduler.ports import EventPublisher
from scheduler.service.publish_outbox import PublishResult, publish_outbox

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelaySettings:
    """How long the relay waits (real seconds) when the outbox is empty or the bus left
    events unacknowledged, and how it waits after a round that failed."""

    idle_sleep: float = 0.5
    backoff: Backoff = field(default_factory=Backoff)


def relay(
    runtime: Runtime,
    publisher: EventPublisher,
    settings: RelaySettings,
    *,
    stop: threading.Event,
    on_round: Callable[[PublishResult], None] | None = None,
) -> None:
    """Publish outbox rounds until `stop` is set: at once again while a full batch was
    published, else after `settings.idle_sleep`. A round that raises (the store out of
    reach, say) is logged and tried again after a doubling wait."""
    failures = 0
    while not stop.is_set():
        try:
            result = publish_outbox(
                uow=runtime.unit_of_work(),
                publisher=publisher,
                clock=runtime.clock,
                relay=runtime.worker,
            )
        except Exception as error:
            failures += 1
            delay = settings.backoff.delay(failures)
            if transient.is_unavailable(error):
                logger.warning(
                    "relay: the store is unavailable (%s); next round in %.1f s",
                    transient.describe(error),
                    delay,
                    extra={"failures": failures, "store_error": transient.describe(error)},
                )
            else:
                logger.exception(
                    "relay round failed (%d in a row); next round in %.1f s", failures, delay
                )
            stop.wait(delay)
            continue
        failures = 0
        if on_round is not None:
            on_round(result)
        if not result.more_to_publish:
            stop.wait(settings.idle_sleep)


@dataclass(frozen=True, slots=True, kw_only=True)
class Drained:
    """What `drain` did: events published, and whether a full batch still waited when it
    stopped (its time was up)."""

    published: int
    more: bool


def drain(runtime: Runtime, publisher: EventPublisher, *, seconds: float | None = None) -> Drained:
    """Publish rounds until the outbox is empty, the bus leaves a round unacknowledged,
    or, given `seconds`, that long has passed (a round started before runs to its end,
    within the publisher's delivery timeout). For a batch job's end (`serve
    --until-idle`) and the Azure relay's publish activity."""
    deadline = None if seconds is None else time.monotonic() + seconds
    published = 0
    while True:
        result = publish_outbox(
            uow=runtime.unit_of_work(),
            publisher=publisher,
            clock=runtime.clock,
            relay=runtime.worker,
        )
        published += result.published
        out_of_time = deadline is not None and time.monotonic() >= deadline
        if not result.more_to_publish or out_of_time:
            return Drained(published=published, more=result.more_to_publish)


class RelayThread:
    """`relay` on a daemon thread of its own, until `stop`."""

    def __init__(
        self,
        runtime: Runtime,
        publisher: EventPublisher,
        settings: RelaySettings,
        *,
        on_round: Callable[[PublishResult], None] | None = None,
    ) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=relay,
            args=(runtime, publisher, settings),
            kwargs={"stop": self._stop, "on_round": on_round},
            name="tsched-relay",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the round in progress (which ends within the publisher's delivery
        timeout); wait for it up to `timeout` seconds."""
        self._stop.set()
        self._thread.join(timeout)
