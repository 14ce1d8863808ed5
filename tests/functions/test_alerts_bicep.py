"""The alerts, the workbook, the metrics and the runbook agree: every metric an alert
or the workbook queries is one `scheduler/metrics.py` records, every alert has a
runbook entry under its name (and no entry is for an alert that is gone), and main.bicep
deploys the alerts over the app's Application Insights. Read as files: Azure cannot be
reached here, nor is the Bicep compiler installed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALERTS = (ROOT / "bicep" / "app" / "alerts.bicep").read_text(encoding="utf-8")
MAIN = (ROOT / "bicep" / "main.bicep").read_text(encoding="utf-8")
METRICS = (ROOT / "scheduler" / "metrics.py").read_text(encoding="utf-8")
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")


def _alert_names() -> set[str]:
    block = re.search(r"^var alerts = \{\n(?P<body>.*?)^\}", ALERTS, re.M | re.S)
    assert block is not None
    return set(re.findall(r"^  '([a-z0-9-]+)': \{$", block["body"], re.M))


def test_there_is_an_alert_for_each_condition_the_operations_staff_watch() -> None:
    assert _alert_names() == {
        "tsched-dispatch-lag",
        "tsched-failure-rate",
        "tsched-dead-operation",
        "tsched-outbox-age",
        "tsched-api-5xx",
        "tsched-dispatch-stopped",
    }


def test_every_metric_queried_is_one_the_app_records() -> None:
    recorded = set(re.findall(r'"(tsched\.[a-z_.]+)"', METRICS))
    queried = set(re.findall(r'"(tsched\.[a-z_.]+)"', ALERTS))

    assert queried
    assert queried <= recorded, queried - recorded


def test_every_alert_has_a_runbook_entry_and_every_entry_an_alert() -> None:
    entries = set(re.findall(r"^## (tsched-[a-z0-9-]+)$", RUNBOOK, re.M))

    assert entries == _alert_names()
    assert "Runbook: docs/runbook.md#${alert.key}" in ALERTS


def test_main_deploys_the_alerts_over_the_apps_application_insights() -> None:
    assert "module alerts 'app/alerts.bicep'" in MAIN
    assert "applicationInsightsName: monitoring.outputs.applicationInsightsName" in MAIN
    assert "alertEmail: alertEmail" in MAIN
