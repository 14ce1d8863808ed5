"""Where the metrics (`scheduler.metrics`) and trace spans (`scheduler.tracing`) go,
set once per process from its settings.

- In Azure, `APPLICATIONINSIGHTS_CONNECTION_STRING` (set by Bicep) sends both to
  Application Insights through the Azure Monitor OpenTelemetry distro, logged in as the
  managed identity (the resource takes Entra ID only; the identity holds Monitoring
  Metrics Publisher). Metrics land in `customMetrics` under their names, which the
  alerts and the workbook query; spans in `requests` and `dependencies`, one operation
  id per trace.
- Locally, `METRICS_PORT` serves the metrics in Prometheus' text format on
  `http://127.0.0.1:<port>/metrics`, and `TRACES_FILE` appends each span to a file as a
  line of JSON.
- With none of them, nothing is exported and recording costs next to nothing.

The store-wide gauges (dispatch lag, outbox, audit) are read from the store when the
exporter collects, by whichever process `observe_operations` is called in: the
dispatcher (`tsched serve`) and the Functions worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from azure.identity import ManagedIdentityCredential
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from prometheus_client import start_http_server

from scheduler import metrics
from scheduler.config import Settings
from scheduler.service.operations_status import OperationsStatus, operations_status

if TYPE_CHECKING:
    from scheduler.bootstrap import Runtime

logger = logging.getLogger(__name__)

#: The platform's setting naming the Application Insights resource (Bicep sets it).
CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SERVICE = "tsched"


def start(runtime: Runtime) -> Callable[[], None]:
    """Export this process's metrics as `runtime`'s settings say, the store-wide gauges
    read from `runtime`'s store; returns what stops it. Call it once per process."""
    stop = configure(runtime.settings)
    if stop is not _NOTHING:

        def read() -> OperationsStatus:
            return operations_status(
                uow=runtime.unit_of_work(),
                clock=runtime.clock,
                relay_enabled=runtime.settings.kafka_bootstrap_servers is not None,
            )

        metrics.observe_operations(read)
    return stop


def _nothing() -> None:
    """Nothing to stop: no exporter was configured."""


_NOTHING = _nothing


def configure(settings: Settings) -> Callable[[], None]:
    """Install this process's meter and tracer providers as `settings` and the
    environment say; returns what shuts them down (flushing what is pending). Call it
    once, first."""
    connection_string = os.environ.get(CONNECTION_STRING, "").strip()
    if connection_string:
        return _azure_monitor(connection_string, settings)
    stops = []
    if settings.metrics_port is not None:
        stops.append(_prometheus(settings.metrics_port))
    if settings.traces_file is not None:
        stops.append(_traces_to_file(settings.traces_file))
    if not stops:
        return _NOTHING

    def shutdown() -> None:
        for stop in stops:
            stop()

    return shutdown


def _azure_monitor(connection_string: str, settings: Settings) -> Callable[[], None]:
    # Imported here: the distro takes about 0.2 s to import, which a process that does
    # not export to Azure should not pay.
    from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415

    configure_azure_monitor(
        connection_string=connection_string,
        credential=ManagedIdentityCredential(client_id=settings.azure_client_id),
        resource=Resource.create({SERVICE_NAME: SERVICE}),
        # The app logs through the Functions host already; metrics are what this adds.
        enable_live_metrics=False,
        # The API instruments its own app (`api.app`), wherever it runs.
        instrumentation_options={"fastapi": {"enabled": False}},
    )
    provider = otel_metrics.get_meter_provider()
    return getattr(provider, "shutdown", lambda: None)


def _prometheus(port: int) -> Callable[[], None]:
    server, thread = start_http_server(port, addr="127.0.0.1")
    provider = MeterProvider(
        metric_readers=[PrometheusMetricReader()],
        resource=Resource.create({SERVICE_NAME: SERVICE}),
    )
    otel_metrics.set_meter_provider(provider)
    logger.info("metrics on http://127.0.0.1:%d/metrics", port)

    def shutdown() -> None:
        provider.shutdown()
        server.shutdown()
        thread.join(timeout=5)

    return shutdown


def _traces_to_file(path: Path) -> Callable[[], None]:
    out = path.open("a", encoding="utf-8")
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: SERVICE}))
    exporter = ConsoleSpanExporter(out=out, formatter=_json_line)
    # Each span is written as it ends, not batched: `tsched api`'s worker processes end
    # without running exit handlers, and a batch would be lost with them.
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel_trace.set_tracer_provider(provider)
    logger.info("trace spans to %s", path)

    def shutdown() -> None:
        provider.shutdown()
        out.close()

    return shutdown


def _json_line(span: ReadableSpan) -> str:
    line: str = span.to_json(indent=None)
    return line + "\n"
