"""The replay harness itself, on small orchestrations of the tests' own: it catches a
non-deterministic orchestrator, and it drives the SDK's retries the way the extension
does, so the dispatch tests that rely on it could fail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from tests.support.clock import SettableClock
from tests.support.durable_replay import NonDeterministic, OrchestrationFailed, ReplayHarness

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1500, max_number_of_attempts=3)

Orchestrator = Callable[[df.DurableOrchestrationContext], Any]


def _harness(orchestrator: Orchestrator, activity: Callable[[Any], Any]) -> ReplayHarness:
    app = df.DFApp()
    app.function_name("orchestrator")(
        app.orchestration_trigger(context_name="context")(orchestrator)
    )
    app.function_name("activity")(app.activity_trigger(input_name="request")(activity))
    functions: dict[str, func.Function] = {}
    for function in app.get_functions():
        name = function.get_function_name()
        assert name is not None
        functions[name] = function
    return ReplayHarness(functions, SettableClock(START))


def _events(history: list[dict[str, Any]], event_type: HistoryEventType) -> list[dict[str, Any]]:
    return [event for event in history if event["EventType"] == event_type]


def test_an_orchestrator_that_schedules_other_work_on_replay_is_caught() -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        first = yield context.call_activity("activity", str(uuid.uuid4()))
        return first

    harness = _harness(orchestrator, lambda request: request)

    with pytest.raises(NonDeterministic):
        harness.run("orchestrator", "instance")


def test_a_deterministic_fan_out_completes_with_every_result_in_order() -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        results = yield context.task_all([context.call_activity("activity", n) for n in range(5)])
        return results

    (generation,) = _harness(orchestrator, lambda n: n * n).run("orchestrator", "instance")

    assert generation.output == [0, 1, 4, 9, 16]
    scheduled = _events(generation.history, HistoryEventType.TASK_SCHEDULED)
    assert [event["EventId"] for event in scheduled] == [0, 1, 2, 3, 4]


def test_a_failing_activity_is_retried_by_the_sdk_with_timers_between_attempts() -> None:
    attempts: list[int] = []

    def flaky(request: int) -> int:
        attempts.append(request)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return request + 1

    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        result = yield context.call_activity_with_retry("activity", RETRY, 41)
        return result

    harness = _harness(orchestrator, flaky)
    (generation,) = harness.run("orchestrator", "instance")

    assert generation.output == 42
    assert attempts == [41, 41, 41]
    history = generation.history
    # Attempt, timer, attempt, timer, attempt: ids as the SDK numbers them.
    assert [e["EventId"] for e in _events(history, HistoryEventType.TASK_SCHEDULED)] == [0, 2, 4]
    assert [e["EventId"] for e in _events(history, HistoryEventType.TIMER_CREATED)] == [1, 3]
    assert len(_events(history, HistoryEventType.TASK_FAILED)) == 2
    # Each retry timer moved the clock by the retry interval.
    assert harness.clock.now() == START.replace(second=3)


def test_an_activity_failing_every_attempt_fails_the_orchestration() -> None:
    def always(_request: Any) -> Any:
        raise ValueError("never")

    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        result = yield context.call_activity_with_retry("activity", RETRY, None)
        return result

    with pytest.raises(OrchestrationFailed, match="never"):
        _harness(orchestrator, always).run("orchestrator", "instance")


def test_continue_as_new_starts_a_generation_with_a_fresh_history() -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        count = context.get_input() or 0
        yield context.call_activity("activity", count)
        if count < 2:
            context.continue_as_new(count + 1)
        return count

    generations = _harness(orchestrator, lambda n: n).run("orchestrator", "instance")

    assert [g.input for g in generations] == [None, 1, 2]
    assert [g.continued for g in generations] == [True, True, False]
    assert generations[-1].output == 2
    assert all(len(_events(g.history, HistoryEventType.TASK_SCHEDULED)) == 1 for g in generations)
