"""One trace from the HTTP request that creates a schedule, through the attempt that
runs its operation, to the events published: the caller's `traceparent` header is the
root, and each hop's span is the child of the one before (`scheduler.tracing`)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from scheduler import bootstrap, runner
from scheduler.adapters import cloudevents
from scheduler.domain.events import EventType
from scheduler.service.publish_outbox import publish_outbox
from tests.support import spans
from tests.support.clock import SettableClock
from tests.support.publishers import RecordingPublisher
from tests.support.schedules import one_time_transfer
from tests.unit.api.conftest import NOW, Headers

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


def _ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    """Trace id, span id and parent span id, in hex."""
    assert span.context is not None
    parent = None if span.parent is None else f"{span.parent.span_id:016x}"
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", parent


def test_the_request_the_attempt_and_the_published_events_are_one_trace(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    publisher = RecordingPublisher()
    with spans.capturing() as recorded:
        created = client.post(
            "/v1/schedules",
            json=one_time_transfer("2027-01-05", "100.00"),
            headers=headers(key="traced", traceparent=CALLER),
        )
        assert created.status_code == 201, created.text
        clock = runtime.clock
        assert isinstance(clock, SettableClock)
        clock.advance_to(NOW + timedelta(days=4))
        while runner.run_cycle(runtime, runner.LoopSettings()).claimed:
            pass
        publish_outbox(
            uow=runtime.unit_of_work(), publisher=publisher, clock=clock, relay="relay-1"
        )

    (request,) = [span for span in recorded if span.kind is SpanKind.SERVER]
    (attempt,) = [span for span in recorded if span.name == "execute execution"]
    published = {span.name: span for span in recorded if span.kind is SpanKind.PRODUCER}
    trace_id, request_span, request_parent = _ids(request)
    assert (trace_id, request_parent) == (TRACE_ID, CALLER_SPAN)
    assert request.name == "POST /v1/schedules"
    _, attempt_span, attempt_parent = _ids(attempt)
    assert attempt_parent == request_span
    assert attempt.attributes is not None
    assert attempt.attributes["tsched.operation.status"] == "succeeded"

    events = {stored.event.type: stored.event for stored in publisher.batches[0]}
    assert set(events) == {
        EventType.SCHEDULE_CREATED,
        EventType.EXECUTION_SUCCEEDED,
        EventType.SCHEDULE_COMPLETED,
    }
    # Written in the request's span, or in the attempt's: each event says which.
    expected_parent = {
        EventType.SCHEDULE_CREATED: request_span,
        EventType.EXECUTION_SUCCEEDED: attempt_span,
        EventType.SCHEDULE_COMPLETED: attempt_span,
    }
    for event_type, event in events.items():
        parent = expected_parent[event_type]
        assert event.traceparent == f"00-{TRACE_ID}-{parent}-01"
        assert cloudevents.to_cloudevent(event)["traceparent"] == event.traceparent
        publish_ids = _ids(published[f"publish {event_type.value}"])
        assert (publish_ids[0], publish_ids[2]) == (TRACE_ID, parent)


def test_a_request_without_a_trace_stores_none_and_its_events_carry_none(
    client: TestClient, headers: Headers, runtime: bootstrap.Runtime
) -> None:
    created = client.post(
        "/v1/schedules",
        json=one_time_transfer("2027-01-05", "100.00"),
        headers=headers(key="untraced"),
    )
    assert created.status_code == 201, created.text
    with runtime.unit_of_work() as uow:
        (stored,) = uow.outbox.unpublished(10)
    assert stored.event.traceparent is None
    assert "traceparent" not in cloudevents.to_cloudevent(stored.event)
