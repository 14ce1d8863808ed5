"""One trace across the platform's hops (W3C Trace Context): the HTTP request that
creates a schedule, the operation that runs later in another process, and the event it
sends to Kafka.

A hop's context travels as its `traceparent` (`00-<trace id>-<span id>-<flags>`):
- on each operation row, the context it was created in (the request, or the attempt
  that materialised it);
- in each outbox row's payload, the context the event was written in;
- on each Kafka message, as the CloudEvent's `traceparent` extension attribute (the
  CloudEvents distributed-tracing extension) and a header of the same name.

Spans go through the OpenTelemetry API. Without a tracer provider (`scheduler.telemetry`
installs one when traces are exported) nothing is recorded, and a parent's context
passes through unchanged, so the trace still joins up downstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

_PROPAGATOR = TraceContextTextMapPropagator()
#: The length of a version-00 traceparent, the only kind stored.
TRACEPARENT_LENGTH = 55
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def current_traceparent() -> str | None:
    """The traceparent of the span running now, or None outside any valid span."""
    return _traceparent(otel_context.get_current())


def context_of(traceparent: str | None) -> otel_context.Context:
    """A context whose parent is `traceparent`; an empty one (a new trace) when it is
    None or malformed."""
    if not traceparent:
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=otel_context.Context())


@contextmanager
def span(
    name: str,
    *,
    parent: str | None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Attributes = None,
) -> Iterator[None]:
    """Run the block in a span that is the child of `parent` (a new trace when it is
    None or malformed): what the block stores or sends carries this span's context."""
    with trace.get_tracer("tsched").start_as_current_span(
        name, context=context_of(parent), kind=kind, attributes=attributes
    ):
        yield


def record_span(
    name: str,
    *,
    parent: str | None,
    start: datetime,
    end: datetime,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Attributes = None,
) -> str | None:
    """Record a span that has already happened, from `start` to `end`, as a child of
    `parent`; returns its traceparent (the parent's when nothing is recorded)."""
    # The provider is looked up at each span, not once at import: a process (or a test)
    # may install it after this module is loaded.
    span = trace.get_tracer("tsched").start_span(
        name,
        context=context_of(parent),
        kind=kind,
        attributes=attributes,
        start_time=_nanoseconds(start),
    )
    span.end(end_time=_nanoseconds(end))
    return _traceparent(trace.set_span_in_context(span)) or parent


def _traceparent(context: otel_context.Context) -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier.get("traceparent")


def _nanoseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000
