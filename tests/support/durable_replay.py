"""A stand-in for the Durable Functions extension, to run our orchestrations here.

The Functions host and its Durable extension cannot run on this machine, so this
harness plays the extension's part against the real SDK (azure-functions-durable,
pinned): it hands an orchestrator function a history of events, reads the actions the
SDK answers, appends the events the extension would (TaskScheduled, TaskCompleted,
TaskFailed, TimerCreated, TimerFired, OrchestratorStarted/Completed), runs the real
activity functions of the indexed app in between, and replays from the start at every
episode, as the extension does. ContinueAsNew starts a new generation with a fresh
history.

What it checks on the way:
- determinism: each replay must answer the actions of the previous episode again, in
  the same order and with the same inputs, before any new one;
- that the SDK and the harness agree on task ids: the events it appends carry the ids
  of the SDK's own open tasks, including the retry timers and re-scheduled attempts of
  `call_activity_with_retry`, which the SDK numbers itself.

Activities run in parallel (threads, or worker processes standing in for instances) and
are not waited for together: as the extension does, each episode replays with whatever
completions have arrived since the last one (at least one), so an orchestration that
schedules new work as soon as some finishes gets to do so. Inputs and outputs cross
the same converter the Python worker uses, so they are JSON both ways.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import azure.functions as func
from azure.durable_functions import DurableOrchestrationContext, Orchestrator
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType
from azure.durable_functions.models.ReplaySchema import ReplaySchema
from azure.durable_functions.models.Task import AtomicTask, RetryAbleTask
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from tests.support import entry_script

#: The replay schema the harness offers, as the Durable extension 2.x does.
SCHEMA = ReplaySchema.V2

#: An activity's answer: (succeeded, its JSON result or the failure's reason, details,
#: seconds it ran).
Answer = tuple[bool, str, str, float]


class Clock(Protocol):
    """A clock the harness stamps events with; a timer moves it with `advance_to` if it
    has one (a settable test clock), else waits for it (the real clock)."""

    def now(self) -> datetime: ...


class OrchestrationFailed(Exception):
    """The orchestrator raised: its error, as the SDK reported it."""


class NonDeterministic(AssertionError):
    """A replay answered other actions than the episode before it."""


@dataclass
class Generation:
    """One generation of an orchestration instance: until it returned or continued as new."""

    input: Any
    history: list[dict[str, Any]]
    episodes: int = 0
    output: Any = None
    continued: bool = False
    continued_with: Any = None
    activity_calls: dict[str, int] = field(default_factory=dict)
    #: Time spent in the orchestrator's own replays (the SDK and our generator).
    replay_seconds: float = 0.0
    #: How long each activity call ran, by activity, where it ran.
    activity_seconds: dict[str, list[float]] = field(default_factory=dict)
    #: From the generation's start to its end, as this process saw it.
    wall_seconds: float = 0.0

    @property
    def history_bytes(self) -> int:
        """Size of the history as JSON: what the task hub stores for this generation."""
        return len(json.dumps(self.history))


@dataclass
class _Work:
    """A scheduled activity attempt or timer the harness must complete."""

    task_id: int
    activity: str | None = None
    input: str | None = None
    fire_at: datetime | None = None


class ReplayHarness:
    """Runs the orchestrations of an indexed app (`functions`, by function name) on
    `clock`: timestamps come from it, and a timer that fires moves it to its time."""

    def __init__(
        self,
        functions: Mapping[str, func.Function],
        clock: Clock,
        *,
        parallel: int = 4,
        workers: Executor | None = None,
    ) -> None:
        """Activities run on `parallel` threads of this process, or, given `workers`
        (from `worker_processes`), in those processes, each with its own runtime as a
        Functions instance has."""
        self.functions = functions
        self.clock = clock
        self.parallel = parallel
        self.workers = workers

    def run(self, orchestrator: str, instance_id: str, input_: Any = None) -> list[Generation]:
        """Run `orchestrator` as `instance_id` from `input_`, generation after generation,
        until it returns; raises `OrchestrationFailed` if it fails."""
        generations = []
        while True:
            generation = self._run_generation(orchestrator, instance_id, input_)
            generations.append(generation)
            if not generation.continued:
                return generations
            input_ = generation.continued_with

    def _run_generation(self, orchestrator: str, instance_id: str, input_: Any) -> Generation:
        began = time.perf_counter()
        generation = self._generation(orchestrator, instance_id, input_)
        generation.wall_seconds = time.perf_counter() - began
        return generation

    def _generation(self, orchestrator: str, instance_id: str, input_: Any) -> Generation:
        encoded_input = json.dumps(input_)
        generation = Generation(
            input=input_,
            history=[
                self._event(HistoryEventType.ORCHESTRATOR_STARTED),
                self._event(
                    HistoryEventType.EXECUTION_STARTED,
                    Name=orchestrator,
                    Input=encoded_input,
                    Version="",
                ),
            ],
        )
        answered: list[dict[str, Any]] = []
        scheduled: set[int] = set()
        own_pool = None if self.workers is not None else ThreadPoolExecutor(self.parallel)
        pool = self.workers or own_pool
        assert pool is not None
        running: dict[Future[Answer], tuple[int, str]] = {}
        try:
            while True:
                generation.episodes += 1
                began = time.perf_counter()
                state, context = self._replay(
                    orchestrator, instance_id, generation.history, encoded_input
                )
                generation.replay_seconds += time.perf_counter() - began
                actions = _flatten(state["actions"])
                if actions[: len(answered)] != answered:
                    raise NonDeterministic(
                        f"episode {generation.episodes} of {instance_id} answered\n"
                        f"{actions}\nafter\n{answered}"
                    )
                answered = actions
                if state["isDone"]:
                    generation.output = state.get("output")
                    for action in actions:
                        if action["actionType"] == ActionType.CONTINUE_AS_NEW:
                            generation.continued = True
                            generation.continued_with = json.loads(action["input"])
                    return generation
                work = [
                    self._work(task_id, task)
                    for task_id, task in sorted(_open_atomic_tasks(context).items())
                    if task_id not in scheduled
                ]
                if not work and not running:
                    raise AssertionError(f"{instance_id} waits on nothing the harness can do")
                scheduled.update(item.task_id for item in work)
                generation.history += [self._scheduled(item) for item in work]
                generation.history.append(self._event(HistoryEventType.ORCHESTRATOR_COMPLETED))
                completions = self._start(work, pool, running, generation)
                completions += self._completed(running, generation, wait=not completions)
                generation.history.append(self._event(HistoryEventType.ORCHESTRATOR_STARTED))
                generation.history += completions
        finally:
            if own_pool is not None:
                own_pool.shutdown(wait=True)

    def replay(self, orchestrator: str, instance_id: str, generation: Generation) -> Any:
        """Replay `orchestrator` once over `generation`'s whole history; the state the
        SDK answers (actions, isDone, output), as JSON."""
        state, _ = self._replay(
            orchestrator, instance_id, generation.history, json.dumps(generation.input)
        )
        return state

    def _replay(
        self, orchestrator: str, instance_id: str, history: list[dict[str, Any]], input_: str
    ) -> tuple[Any, DurableOrchestrationContext]:
        """One episode: what `Orchestrator.create`'s handle does with the extension's
        JSON, keeping the context so that the SDK's open tasks can be read after."""
        user_function = self.functions[orchestrator].get_user_function()
        context = DurableOrchestrationContext.from_json(
            json.dumps(
                {
                    "history": history,
                    "instanceId": instance_id,
                    "isReplaying": False,
                    "parentInstanceId": None,
                    "input": input_,
                    "upperSchemaVersion": SCHEMA.value,
                }
            )
        )
        context._input_expected_type = getattr(user_function, "_df_input_type", None)
        try:
            # Orchestrator.create keeps the generator it wraps on the handle (untyped).
            generator_function = getattr(user_function, "orchestrator_function")  # noqa: B009
            answer = Orchestrator(generator_function).handle(context)
        except Exception as error:
            raise OrchestrationFailed(str(error).split("\n\n$OutOfProcData$")[0]) from error
        return json.loads(answer), context

    def _work(self, task_id: int, task: AtomicTask) -> _Work:
        action = task.action_repr
        if isinstance(action, list):
            (action,) = action
        if isinstance(action, CreateTimerAction):
            return _Work(task_id, fire_at=action.fire_at)
        if isinstance(action, NoOpAction):
            # An attempt or a retry timer of call_activity_with_retry, numbered by the SDK.
            parent = task.parent
            assert isinstance(parent, RetryAbleTask), f"task {task_id}: an unknown no-op"
            if parent.is_waiting_on_timer:
                retry = parent.retry_options.first_retry_interval_in_milliseconds
                return _Work(task_id, fire_at=self.clock.now() + timedelta(milliseconds=retry))
            action = parent.actions
        payload = action.to_json()
        return _Work(task_id, activity=payload["functionName"], input=payload.get("input"))

    def _scheduled(self, item: _Work) -> dict[str, Any]:
        if item.activity is None:
            assert item.fire_at is not None
            return self._event(
                HistoryEventType.TIMER_CREATED, EventId=item.task_id, FireAt=_text(item.fire_at)
            )
        return self._event(
            HistoryEventType.TASK_SCHEDULED,
            EventId=item.task_id,
            Name=item.activity,
            Input=item.input,
        )

    def _start(
        self,
        work: list[_Work],
        pool: Executor,
        running: dict[Future[Answer], tuple[int, str]],
        generation: Generation,
    ) -> list[dict[str, Any]]:
        """Submit the new activities to `pool` (into `running`); fire the new timers (the
        clock moves to their time) and return their events."""
        fired = []
        for item in work:
            if item.activity is None:
                assert item.fire_at is not None
                self._wait_until(item.fire_at)
                fired.append(
                    self._event(
                        HistoryEventType.TIMER_FIRED,
                        TimerId=item.task_id,
                        FireAt=_text(item.fire_at),
                    )
                )
                continue
            calls = generation.activity_calls
            calls[item.activity] = calls.get(item.activity, 0) + 1
            if self.workers is not None:
                future = pool.submit(_call_in_worker, item.activity, item.input)
            else:
                future = pool.submit(call_activity, self.functions, item.activity, item.input)
            running[future] = (item.task_id, item.activity)
        return fired

    def _completed(
        self,
        running: dict[Future[Answer], tuple[int, str]],
        generation: Generation,
        *,
        wait: bool,
    ) -> list[dict[str, Any]]:
        """The events of the activities that have finished, in the order they finished;
        with `wait`, once at least one has, as the extension runs an episode for
        whatever messages have arrived."""
        if wait and running:
            concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
        finished = [future for future in running if future.done()]
        events = []
        for future in finished:
            task_id, name = running.pop(future)
            ok, value, details, seconds = future.result()
            generation.activity_seconds.setdefault(name, []).append(seconds)
            if ok:
                events.append(
                    self._event(
                        HistoryEventType.TASK_COMPLETED, TaskScheduledId=task_id, Result=value
                    )
                )
            else:
                events.append(
                    self._event(
                        HistoryEventType.TASK_FAILED,
                        TaskScheduledId=task_id,
                        Reason=value,
                        Details=details,
                    )
                )
        return events

    def _wait_until(self, moment: datetime) -> None:
        """A settable clock moves to `moment`; a real one is waited on."""
        advance = getattr(self.clock, "advance_to", None)
        if advance is not None:
            if moment > self.clock.now():
                advance(moment)
            return
        time.sleep(max(0.0, (moment - self.clock.now()).total_seconds()))

    def _event(self, event_type: HistoryEventType, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "EventType": int(event_type),
            "EventId": -1,
            "IsPlayed": False,
            "Timestamp": _text(self.clock.now()),
        }
        event.update(fields)
        return event


def _flatten(actions: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every action, compound ones (task_all, task_any) opened, in order."""
    flat: list[dict[str, Any]] = []

    def add(action: dict[str, Any]) -> None:
        if "compoundActions" in action:
            for child in action["compoundActions"]:
                add(child)
        else:
            flat.append(action)

    for group in actions:
        for action in group:
            add(action)
    return flat


def _open_atomic_tasks(context: DurableOrchestrationContext) -> dict[int, AtomicTask]:
    open_tasks: dict[int, AtomicTask] = {}
    for task_id, task in context.open_tasks.items():
        tasks = task if isinstance(task, list) else [task]
        for each in tasks:
            assert isinstance(each, AtomicTask), (task_id, each)
            assert isinstance(task_id, int), (task_id, each)
            open_tasks[task_id] = each
    return open_tasks


def _text(moment: datetime) -> str:
    return moment.isoformat()


def call_activity(functions: Mapping[str, func.Function], name: str, request: str | None) -> Answer:
    """Call activity `name` as the worker does: input decoded and result encoded by the
    activity trigger's converter."""
    function = functions[name].get_user_function()
    began = time.perf_counter()
    try:
        decoded = ActivityTriggerConverter.decode(
            meta.Datum(request, "json"), trigger_metadata=None
        )
        result = function(decoded)
        encoded: str = ActivityTriggerConverter.encode(result, expected_type=None).value
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        return False, reason, traceback.format_exc(), time.perf_counter() - began
    return True, encoded, "", time.perf_counter() - began


def worker_processes(count: int) -> ProcessPoolExecutor:
    """`count` processes standing in for Functions instances: each indexes `main` once
    and builds its runtime from the environment's settings on its first activity
    (`bootstrap.process_runtime`). Started fresh (spawn), so they share nothing with
    this process but the environment."""
    return ProcessPoolExecutor(
        max_workers=count,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_index_in_worker,
    )


_worker_functions: dict[str, func.Function] = {}


def _index_in_worker() -> None:
    _worker_functions.update(entry_script.indexed_functions())


def _call_in_worker(name: str, request: str | None) -> Answer:
    return call_activity(_worker_functions, name, request)
