"""Spans recorded by the OpenTelemetry SDK, for tests of `scheduler.tracing`.

`capturing()` installs an SDK tracer provider for the length of a test and removes it
after (with OpenTelemetry's own test helper), so that other tests run, as a process
without `TRACES_FILE` does, with nothing recording."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.test.globals_test import reset_trace_globals


@contextmanager
def capturing() -> Iterator[list[ReadableSpan]]:
    """Yield a list that holds, once the block ends, the spans that ended in it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reset_trace_globals()
    trace.set_tracer_provider(provider)
    spans: list[ReadableSpan] = []
    try:
        yield spans
    finally:
        spans.extend(exporter.get_finished_spans())
        provider.shutdown()
        reset_trace_globals()
