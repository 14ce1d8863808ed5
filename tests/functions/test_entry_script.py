"""The Functions entry script, indexed the way the Python worker indexes it."""

from __future__ import annotations

import importlib
import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest


def _index_entry_script() -> tuple[list[func.FunctionRegister], list[func.Function]]:
    """Import `main` afresh and index it like the worker's loader.

    The worker accepts exactly one `FunctionRegister` at module level and calls its
    `get_functions()` once (a second call on the same app reports duplicate names).
    """
    main = importlib.reload(importlib.import_module("main"))
    registers = [value for value in vars(main).values() if isinstance(value, func.FunctionRegister)]
    return registers, registers[0].get_functions() if registers else []


def _bindings(function: func.Function) -> list[dict[str, Any]]:
    """The bindings as the host receives them."""
    bindings: list[dict[str, Any]] = json.loads(function.get_function_json())["bindings"]
    return bindings


def _trigger(function: func.Function) -> dict[str, Any]:
    (trigger,) = (binding for binding in _bindings(function) if binding["type"].endswith("Trigger"))
    return trigger


@pytest.fixture(scope="module")
def functions() -> dict[str, func.Function]:
    _, indexed = _index_entry_script()
    by_name = {}
    for function in indexed:
        name = function.get_function_name()
        assert name is not None
        by_name[name] = function
    return by_name


def test_main_defines_exactly_one_function_app_a_durable_one() -> None:
    registers, _ = _index_entry_script()

    assert len(registers) == 1
    assert isinstance(registers[0], df.DFApp)


def test_importing_main_reads_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_BATCH_SIZE", "not a number")

    registers, indexed = _index_entry_script()

    assert indexed
    assert len(registers) == 1


def test_liveness_is_an_anonymous_get_on_api_health_live(
    functions: dict[str, func.Function],
) -> None:
    trigger = _trigger(functions["liveness"])

    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == "health/live"
    assert trigger["methods"] == ["GET"]
    assert trigger["authLevel"] == "ANONYMOUS"


def test_liveness_answers_200_with_status_ok(functions: dict[str, func.Function]) -> None:
    handler = functions["liveness"].get_user_function()
    request = func.HttpRequest(method="GET", url="http://localhost:7071/api/health/live", body=b"")

    response = handler(request)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body()) == {"status": "ok"}


def test_every_timer_runs_on_the_dispatch_schedule_setting_and_not_on_startup(
    functions: dict[str, func.Function],
) -> None:
    # No timer exists until the dispatcher lands; this holds every timer added later
    # to the one app setting, in UTC, and away from run-on-startup.
    for function in functions.values():
        trigger = _trigger(function)
        if trigger["type"] == "timerTrigger":
            assert trigger["schedule"] == "%DISPATCH_SCHEDULE%"
            assert not trigger.get("runOnStartup")
