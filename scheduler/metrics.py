"""The scheduler's metrics, in one place: their names, units and attributes, and the
calls that record them. The Azure alerts and workbook (bicep/app/monitoring.bicep) and
docs/runbook.md use these names.

Instruments come from OpenTelemetry's API, which does nothing until a meter provider
is configured (`telemetry.configure`: Azure Monitor in Azure, a Prometheus endpoint
locally), so recording is free where nothing exports. The faces record, not the use
cases: the dispatcher's pass and the Durable activities around `claim_due` and
`execute_*`, the API's middleware, the gateway's wrapper (`MeasuredGateway`).

The store-wide figures (dispatch lag, outbox backlog, audit sealing) are observable
gauges read from `service.operations_status` when a reader collects, at most once per
collection however many gauges ask (`observe_operations`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from scheduler.domain.operation import Operation, OperationKind, OperationStatus
from scheduler.ports import Clock, PaymentGateway, TransferRequest, TransferResult
from scheduler.service.execute_claimed import ExecutionReport
from scheduler.service.operations_status import OperationsStatus

METER = "tsched"

_meter = metrics.get_meter(METER)

#: Bucket bounds, in seconds, of the durations of calls (a claim, a gateway call, a
#: request): milliseconds to seconds.
CALL_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Bucket bounds, in seconds, of how late a payment was claimed: the business target is
#: within a minute (the lag alert), and an outage may stretch it to hours.
LATENESS_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)

operations_claimed = _meter.create_counter(
    "tsched.operations.claimed", unit="{operation}", description="Operations leased to a worker."
)
operation_outcomes = _meter.create_counter(
    "tsched.operations.outcomes",
    unit="{operation}",
    description="Outcomes recorded, by outcome: succeeded, retry_wait, failed, dead, skipped.",
)
operation_lateness = _meter.create_histogram(
    "tsched.operation.lateness",
    unit="s",
    description="How late the first attempt at a payment was claimed (claim less due time).",
    explicit_bucket_boundaries_advisory=LATENESS_SECONDS,
)
claim_duration = _meter.create_histogram(
    "tsched.claim.duration",
    unit="s",
    description="Time one claim of a batch took.",
    explicit_bucket_boundaries_advisory=CALL_SECONDS,
)
gateway_duration = _meter.create_histogram(
    "tsched.gateway.duration",
    unit="s",
    description="Time one call to the payment gateway took, by its first result's outcome.",
    explicit_bucket_boundaries_advisory=CALL_SECONDS,
)
gateway_results = _meter.create_counter(
    "tsched.gateway.results",
    unit="{transfer}",
    description="Transfers the gateway answered, by outcome: booked, declined_retryable, "
    "rejected, unavailable.",
)
api_request_duration = _meter.create_histogram(
    "tsched.api.request.duration",
    unit="s",
    description="API requests, by route template, method and status code.",
    explicit_bucket_boundaries_advisory=CALL_SECONDS,
)
idempotent_replays = _meter.create_counter(
    "tsched.api.idempotent_replays",
    unit="{request}",
    description="Requests answered with the stored answer of an earlier one with the same key.",
)


def measured_claim(claim: Callable[[], list[Operation]], clock: Clock) -> list[Operation]:
    """`claim()`'s operations, its time and what it leased recorded (`record_claim`)."""
    started = time.perf_counter()
    claimed = claim()
    record_claim(claimed, time.perf_counter() - started, clock.now())
    return claimed


def record_claim(claimed: Sequence[Operation], seconds: float, at: datetime) -> None:
    """A claim that took `seconds` and leased `claimed` at `at`: the count, the time,
    and the lateness of each payment claimed for its first attempt."""
    claim_duration.record(seconds)
    operations_claimed.add(len(claimed))
    for operation in claimed:
        if operation.kind is OperationKind.EXECUTION and operation.attempts == 1:
            operation_lateness.record(max((at - operation.due_at).total_seconds(), 0.0))


def record_execution(report: ExecutionReport) -> None:
    """The outcomes one execution recorded."""
    for status, count in report.recorded.items():
        operation_outcomes.add(count, {"outcome": status.value})


def record_request(route: str, method: str, status_code: int, seconds: float) -> None:
    """One API request answered."""
    attributes = {
        "http.route": route,
        "http.request.method": method,
        "http.response.status_code": status_code,
    }
    api_request_duration.record(seconds, attributes)


def record_replay() -> None:
    """A request answered from the idempotency store."""
    idempotent_replays.add(1)


class MeasuredGateway:
    """A `PaymentGateway` that times each call to `gateway` and counts its results."""

    def __init__(self, gateway: PaymentGateway) -> None:
        self._gateway = gateway

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        started = time.perf_counter()
        results = self._gateway.transfer_many(requests)
        outcome = results[0].outcome.value if results else "none"
        gateway_duration.record(time.perf_counter() - started, {"outcome": outcome})
        for result in results:
            gateway_results.add(1, {"outcome": result.outcome.value})
        return results


def observe_operations(read: Callable[[], OperationsStatus], *, every: float = 1.0) -> None:
    """Register the store-wide gauges, read with `read` (at most once per `every`
    seconds, since each gauge's callback asks)."""
    latest = _Latest(read, every)
    gauges: dict[str, tuple[str, str, Callable[[OperationsStatus], Iterable[Observation]]]] = {
        "tsched.dispatch.lag": (
            "s",
            "How long the oldest due operation not held by a worker has waited.",
            lambda s: [Observation(s.lag.total_seconds())],
        ),
        "tsched.operations.waiting": (
            "{operation}",
            "Operations due and not held by a worker.",
            lambda s: [Observation(s.waiting)],
        ),
        "tsched.operations.due_next_hour": (
            "{operation}",
            "Operations that become due in the next hour, by kind.",
            lambda s: [
                Observation(count, {"kind": kind.value}) for kind, count in s.due_next_hour.items()
            ],
        ),
        "tsched.operations.stopped": (
            "{operation}",
            "Operations failed or dead now, by status.",
            lambda s: [
                Observation(s.stopped.get(status, 0), {"status": status.value})
                for status in (OperationStatus.FAILED, OperationStatus.DEAD)
            ],
        ),
        "tsched.outbox.backlog": (
            "{event}",
            "Events waiting to be published to Kafka (counted up to 10,000).",
            lambda s: [Observation(s.outbox_backlog.unpublished)],
        ),
        "tsched.outbox.age": (
            "s",
            "How long the oldest event waiting for Kafka has waited.",
            lambda s: [Observation(s.outbox_age.total_seconds())],
        ),
        "tsched.audit.unsealed": (
            "{record}",
            "Audit records not sealed into a block yet.",
            lambda s: [Observation(s.unsealed_audit_records)],
        ),
    }
    for name, (unit, description, observe) in gauges.items():
        _meter.create_observable_gauge(
            name, callbacks=[latest.callback(observe)], unit=unit, description=description
        )


class _Latest:
    """`read()`'s answer, read again once it is `every` seconds old."""

    def __init__(self, read: Callable[[], OperationsStatus], every: float) -> None:
        self._read = read
        self._every = every
        self._lock = threading.Lock()
        self._value: tuple[float, OperationsStatus] | None = None

    def get(self) -> OperationsStatus:
        with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._value[0] >= self._every:
                self._value = (now, self._read())
            return self._value[1]

    def callback(
        self, observe: Callable[[OperationsStatus], Iterable[Observation]]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def collect(_options: CallbackOptions) -> Iterable[Observation]:
            return observe(self.get())

        return collect
