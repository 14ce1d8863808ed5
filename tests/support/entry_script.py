"""Indexing `main.py` the way the Python worker does, and reading what the host gets."""

from __future__ import annotations

import importlib
import json
from typing import Any

import azure.functions as func


def index_entry_script() -> tuple[list[func.FunctionRegister], list[func.Function]]:
    """Import `main` afresh and index it like the worker's loader: the `FunctionRegister`s
    at module level and the functions of the first.

    The worker accepts exactly one `FunctionRegister` and calls its `get_functions()`
    once (a second call on the same app reports duplicate names), hence the reload.
    """
    main = importlib.reload(importlib.import_module("main"))
    registers = [value for value in vars(main).values() if isinstance(value, func.FunctionRegister)]
    return registers, registers[0].get_functions() if registers else []


def indexed_functions() -> dict[str, func.Function]:
    """The functions of a fresh index of `main`, by name."""
    _, indexed = index_entry_script()
    by_name = {}
    for function in indexed:
        name = function.get_function_name()
        assert name is not None
        by_name[name] = function
    return by_name


def bindings(function: func.Function) -> list[dict[str, Any]]:
    """The bindings as the host receives them."""
    found: list[dict[str, Any]] = json.loads(function.get_function_json())["bindings"]
    return found


def trigger(function: func.Function) -> dict[str, Any]:
    """The one trigger binding of `function`."""
    (found,) = (binding for binding in bindings(function) if binding["type"].endswith("Trigger"))
    return found
