"""Where metrics go, by setting: nowhere by default; to Application Insights through the
Azure Monitor distro, logged in as the managed identity, when the platform names the
resource (the distro's call is checked, not made: it would send); Prometheus locally
(`tests/e2e/test_serve_http.py` scrapes a real `tsched serve`)."""

from __future__ import annotations

from typing import Any

import azure.monitor.opentelemetry
import pytest
from azure.identity import ManagedIdentityCredential

from scheduler import telemetry
from scheduler.config import Settings

CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/"
CLIENT_ID = "6f1c3c0e-5d0a-4f1e-9a57-8a3a2f0b9c11"


def test_with_neither_setting_nothing_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(telemetry.CONNECTION_STRING, raising=False)

    stop = telemetry.configure(Settings(database_url="sqlite://"))

    assert stop is telemetry._NOTHING


def test_in_azure_the_distro_is_configured_with_the_managed_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv(telemetry.CONNECTION_STRING, CONNECTION)
    monkeypatch.setattr(
        azure.monitor.opentelemetry, "configure_azure_monitor", lambda **kw: calls.append(kw)
    )

    telemetry.configure(Settings(database_url="sqlite://", azure_client_id=CLIENT_ID))

    (call,) = calls
    assert call["connection_string"] == CONNECTION
    assert isinstance(call["credential"], ManagedIdentityCredential)
    assert call["resource"].attributes["service.name"] == "tsched"
    assert call["enable_live_metrics"] is False
