"""The timer starter, called as the worker calls it, with a durable client double that
answers `get_status` from a script and records `start_new`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import (
    DurableOrchestrationStatus,
)
from azure.functions.timer import TimerRequest

from durable import names
from tests.support.durable_app import status_of
from tests.support.entry_script import indexed_functions

ROOT = Path(__file__).resolve().parents[2]
Status = df.OrchestrationRuntimeStatus
BOTH = (names.DISPATCH_INSTANCE, names.RELAY_INSTANCE)


class ScriptedClient:
    """Answers each instance's `get_status` calls in turn from `statuses` (the last
    answer repeats); `start_new` raises `refuse` for the instances in it."""

    def __init__(
        self,
        statuses: dict[str, Sequence[Status | None]],
        *,
        refuse: dict[str, Exception] | None = None,
    ) -> None:
        self.statuses = {instance: list(answers) for instance, answers in statuses.items()}
        self.refuse = refuse or {}
        self.started: list[tuple[str, str | None, Any]] = []

    async def get_status(self, instance_id: str) -> DurableOrchestrationStatus:
        answers = self.statuses[instance_id]
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        return status_of(instance_id, status, "boom" if status is Status.Failed else None)

    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str:
        if instance_id in self.refuse:
            raise self.refuse[instance_id]
        self.started.append((orchestration_function_name, instance_id, client_input))
        return str(instance_id)


def _tick(client: ScriptedClient, *, past_due: bool = False) -> None:
    starter = indexed_functions()[names.STARTER].get_user_function()
    # The function as written, before the SDK wraps it to build the client from JSON.
    asyncio.run(starter.client_function(TimerRequest(past_due=past_due), client))


def _same_for_both(*answers: Status | None) -> dict[str, Sequence[Status | None]]:
    return dict.fromkeys(BOTH, answers)


def test_absent_orchestrations_are_started_under_their_fixed_ids() -> None:
    client = ScriptedClient(_same_for_both(None))

    _tick(client)

    assert client.started == [
        (names.DISPATCH_ORCHESTRATOR, names.DISPATCH_INSTANCE, None),
        (names.RELAY_ORCHESTRATOR, names.RELAY_INSTANCE, None),
    ]


@pytest.mark.parametrize(
    "status", [Status.Running, Status.Pending, Status.ContinuedAsNew, Status.Suspended]
)
def test_a_live_or_suspended_orchestration_is_left_alone(status: Status) -> None:
    client = ScriptedClient(_same_for_both(status))

    _tick(client)

    assert client.started == []


@pytest.mark.parametrize(
    "status", [Status.Completed, Status.Failed, Status.Terminated, Status.Canceled]
)
def test_an_ended_orchestration_is_started_again(status: Status) -> None:
    client = ScriptedClient(_same_for_both(status))

    _tick(client)

    assert [instance for _, instance, _ in client.started] == list(BOTH)


def test_a_failed_orchestration_is_logged_with_its_error_before_it_starts_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ScriptedClient(
        {names.DISPATCH_INSTANCE: [Status.Failed], names.RELAY_INSTANCE: [None]}
    )

    with caplog.at_level(logging.WARNING, logger="durable.starter"):
        _tick(client)

    (record,) = caplog.records
    assert names.DISPATCH_INSTANCE in record.getMessage()
    assert "boom" in record.getMessage()
    assert len(client.started) == 2


def test_losing_the_start_race_to_a_concurrent_starter_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Both ticks saw no instance; the other one's start_new got in first.
    client = ScriptedClient(
        {names.DISPATCH_INSTANCE: [None, Status.Running], names.RELAY_INSTANCE: [Status.Running]},
        refuse={names.DISPATCH_INSTANCE: Exception("An Orchestration instance already exists")},
    )

    with caplog.at_level(logging.INFO, logger="durable.starter"):
        _tick(client)

    assert client.started == []
    assert any("another starter" in record.getMessage() for record in caplog.records)


def test_a_refused_start_with_no_instance_running_fails_the_tick() -> None:
    client = ScriptedClient(
        _same_for_both(None),
        refuse={names.DISPATCH_INSTANCE: Exception("the task hub is unreachable")},
    )

    with pytest.raises(Exception, match="task hub is unreachable"):
        _tick(client)


def test_a_past_due_tick_is_logged_and_starts_as_any_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ScriptedClient(_same_for_both(None))

    with caplog.at_level(logging.WARNING, logger="durable.starter"):
        _tick(client, past_due=True)

    assert [record.getMessage() for record in caplog.records] == [
        "the dispatch timer fired late; starting the orchestrations as usual"
    ]
    assert len(client.started) == 2


def test_the_task_hub_refuses_to_start_over_a_running_instance() -> None:
    # What makes a lost start race an error the starter can read, not a silent restart
    # of the running dispatch (the extension's default is to replace any instance).
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))

    durable_task = host["extensions"]["durableTask"]
    assert durable_task["overridableExistingInstanceStates"] == "NonRunningStates"
