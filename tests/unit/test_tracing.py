"""`scheduler.tracing`: a context travels as its traceparent; a span recorded after the
fact is the child of the one it names; with nothing recording, the parent's context
passes through unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

from scheduler import tracing
from tests.support import spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
STARTED = datetime(2027, 1, 29, 9, 0, 0, 123456, tzinfo=UTC)


def test_a_span_recorded_after_the_fact_is_the_child_of_the_named_context() -> None:
    with spans.capturing() as recorded:
        child = tracing.record_span(
            "execute execution",
            parent=PARENT,
            start=STARTED,
            end=STARTED + timedelta(milliseconds=7),
            attributes={"tsched.operation.attempt": 1},
        )

    (span,) = recorded
    assert span.name == "execute execution"
    assert span.context is not None
    assert span.parent is not None
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert (span.start_time, span.end_time) == (
        1_801_213_200_123_456_000,
        1_801_213_200_130_456_000,
    )
    assert span.attributes == {"tsched.operation.attempt": 1}
    assert child == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"


def test_without_a_parent_a_span_starts_a_trace_of_its_own() -> None:
    with spans.capturing() as recorded:
        child = tracing.record_span("publish", parent=None, start=STARTED, end=STARTED)

    (span,) = recorded
    assert span.parent is None
    assert child is not None
    assert child.split("-")[1] != TRACE_ID


@pytest.mark.parametrize("malformed", ["", "not-a-traceparent", f"00-{'0' * 32}-{'0' * 16}-01"])
def test_a_malformed_parent_is_no_parent(malformed: str) -> None:
    assert (
        trace.get_current_span(tracing.context_of(malformed)).get_span_context().is_valid is False
    )


def test_with_nothing_recording_the_parent_passes_through() -> None:
    assert tracing.record_span("x", parent=PARENT, start=STARTED, end=STARTED) == PARENT
    assert tracing.record_span("x", parent=None, start=STARTED, end=STARTED) is None


def test_the_current_traceparent_is_the_running_span_s_and_none_outside_any() -> None:
    assert tracing.current_traceparent() is None
    token = otel_context.attach(tracing.context_of(PARENT))
    try:
        assert tracing.current_traceparent() == PARENT
    finally:
        otel_context.detach(token)


def test_what_runs_in_a_span_carries_its_context_a_child_of_the_parent() -> None:
    with spans.capturing() as recorded, tracing.span("process", parent=PARENT):
        inside = tracing.current_traceparent()

    (span,) = recorded
    assert span.context is not None
    assert inside == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
