"""The Functions entry script, indexed the way the Python worker indexes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

import function_app.http_api
from tests.support import entry_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def functions() -> dict[str, func.Function]:
    return entry_script.indexed_functions()


def test_main_defines_exactly_one_function_app_a_durable_one() -> None:
    registers, _ = entry_script.index_entry_script()

    assert len(registers) == 1
    assert isinstance(registers[0], df.DFApp)


def test_importing_main_reads_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_BATCH_SIZE", "not a number")

    registers, indexed = entry_script.index_entry_script()

    assert indexed
    assert len(registers) == 1


def test_importing_main_in_a_fresh_worker_builds_no_runtime_and_no_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In this test process other tests may have imported and built things already; a
    # fresh interpreter, as a new worker is, shows what the import alone does.
    monkeypatch.setenv("DISPATCH_BATCH_SIZE", "not a number")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    probe = (
        "import main\n"
        "from function_app import http_api\n"
        "from scheduler import bootstrap, config\n"
        "caches = (config.load_settings, bootstrap._process_runtime, http_api.middleware)\n"
        "print([cache.cache_info().currsize for cache in caches])\n"
    )

    ran = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[0, 0, 0]"


def test_the_only_http_function_is_the_api_on_an_anonymous_catch_all_route(
    functions: dict[str, func.Function],
) -> None:
    http = {
        name: (trigger["route"], trigger["methods"], trigger["authLevel"])
        for name, function in functions.items()
        if (trigger := entry_script.trigger(function))["type"] == "httpTrigger"
    }

    assert http == {"http_api": ("{*route}", ["GET", "POST", "PATCH"], "ANONYMOUS")}
    assert functions["http_api"].get_user_function() is function_app.http_api.http_api


def test_the_api_answers_on_the_same_paths_as_under_uvicorn() -> None:
    # The middleware hands FastAPI the URL's whole path: a route prefix would be a
    # first segment no route of the API has.
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))

    assert host["extensions"]["http"]["routePrefix"] == ""


def test_every_timer_runs_on_its_schedule_setting_and_not_on_startup(
    functions: dict[str, func.Function],
) -> None:
    # Every timer, and any added later: on an app setting (UTC, as Flex Consumption
    # runs them), never a schedule written in code, and away from run-on-startup.
    schedules = {
        name: entry_script.trigger(function)
        for name, function in functions.items()
        if entry_script.trigger(function)["type"] == "timerTrigger"
    }

    assert {name: trigger["schedule"] for name, trigger in schedules.items()} == {
        "start_orchestrations": "%DISPATCH_SCHEDULE%",
        "archive_history_and_audit": "%ARCHIVE_SCHEDULE%",
        "send_dead_operations": "%DEAD_OPERATIONS_SCHEDULE%",
    }
    assert not any(trigger.get("runOnStartup") for trigger in schedules.values())


def test_the_app_indexes_exactly_the_functions_the_readme_lists(
    functions: dict[str, func.Function],
) -> None:
    triggers = {
        name: entry_script.trigger(function)["type"] for name, function in functions.items()
    }

    assert triggers == {
        "http_api": "httpTrigger",
        "start_orchestrations": "timerTrigger",
        "archive_history_and_audit": "timerTrigger",
        "send_dead_operations": "timerTrigger",
        "schedule_commands": "serviceBusTrigger",
        "dispatch_orchestrator": "orchestrationTrigger",
        "relay_orchestrator": "orchestrationTrigger",
        "claim_batch": "activityTrigger",
        "execute_chunk": "activityTrigger",
        "seal_audit_trail": "activityTrigger",
        "purge_idempotent_responses": "activityTrigger",
        "publish_events": "activityTrigger",
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in triggers)


def test_the_timer_starter_takes_a_durable_client(functions: dict[str, func.Function]) -> None:
    bindings = entry_script.bindings(functions["start_orchestrations"])

    assert {(b["type"], b["name"]) for b in bindings} == {
        ("timerTrigger", "timer"),
        ("durableClient", "client"),
    }
