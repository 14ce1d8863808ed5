"""The two orchestrations: dispatch (claim, execute, seal) and relay (publish events).

Both are deterministic generators: no clock but `context.current_utc_datetime`, no
random but `context.new_guid()`, no I/O; every effect is an activity, called with
`RETRY`. Each dispatch generation executes up to `WINDOW` batches and continues as new
while another was waiting, so a history stays small; once idle, the orchestration ends
and the next timer tick starts it again.

The relay is an orchestration of its own, not a step of the dispatch: publishing waits
on Kafka (for the delivery timeout when the broker is down), and payments must never
wait on notifications.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from durable import messages, names

#: Activity retries: 3 attempts in all, 2 s apart (the Python SDK sets no backoff
#: coefficient). An execute activity retried after booking is safe: the gateway answers
#: the same idempotency keys with the first bookings.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3)

#: A busy run seals the audit trail at most this often; its last generation always does.
SEAL_INTERVAL = timedelta(seconds=2)

#: Batches one generation of the dispatch executes before it continues as new: its
#: history holds this many batches' events (about 60 KiB each at 500 operations).
WINDOW = 4

#: What an orchestrator yields (Durable tasks), is sent (their results) and returns.
Orchestration = Generator[Any, Any, Any]


def register(blueprint: df.Blueprint) -> None:
    """Add both orchestrator functions to `blueprint`."""
    for orchestrator, name in (
        (dispatch, names.DISPATCH_ORCHESTRATOR),
        (relay, names.RELAY_ORCHESTRATOR),
    ):
        blueprint.function_name(name)(
            blueprint.orchestration_trigger(context_name="context")(orchestrator)
        )


def dispatch(context: df.DurableOrchestrationContext) -> Orchestration:
    """Execute up to `WINDOW` claimed batches, each in parallel chunks, claiming each
    next batch while the one before executes; seal the audit trail beside them when
    due; continue as new with the batch claimed past the window, if any; idle, purge
    expired idempotent responses and end.

    A batch's execute activities are scheduled as soon as its claim returns, while the
    batch before may still be executing: the workers find the next chunks queued and
    never idle at a fan-in between batches. Only the first batch of a run is claimed
    on its own."""
    state = messages.dispatch_state(context.get_input())
    run = state["run"] or context.new_guid().hex
    first = state["batch"]
    claim = state["claimed"]
    if claim is None:
        claim = yield _claim(context, run, first)
    now = context.current_utc_datetime
    sealed_at = messages.instant(state["sealed_at"])
    # The last generation of a run seals whatever is left; a busy run every interval.
    seal = not claim["full"] or sealed_at is None or now - sealed_at >= SEAL_INTERVAL

    #: Each task awaited, with what it is: ("claim" | "execute" | "seal", batch number).
    pending: dict[Any, tuple[str, int]] = {}

    def start(batch: int, batch_claim: messages.ClaimResult) -> None:
        # The claim first, so that it is not queued behind the chunks.
        if batch_claim["full"]:
            pending[_claim(context, run, batch + 1)] = ("claim", batch + 1)
        owner = messages.lease_owner(context.instance_id, run, batch)
        for chunk in batch_claim["chunks"]:
            request = messages.ExecuteRequest(owner=owner, operations=chunk)
            task = context.call_activity_with_retry(names.EXECUTE_ACTIVITY, RETRY, request)
            pending[task] = ("execute", batch)

    if seal:
        pending[context.call_activity_with_retry(names.SEAL_ACTIVITY, RETRY, None)] = ("seal", 0)
    start(first, claim)
    batches = [first]
    claimed = claim["claimed"]
    executed: list[messages.ExecuteResult] = []
    sealed = 0
    following: messages.ClaimResult | None = None
    while pending:
        done = yield context.task_any(list(pending))
        role, batch = pending.pop(done)
        result = _result(done)
        if role == "execute":
            executed.append(result)
        elif role == "seal":
            sealed, sealed_at = result["sealed"], now
        elif result["claimed"] and batch < first + WINDOW:
            start(batch, result)
            batches.append(batch)
            claimed += result["claimed"]
        elif result["claimed"]:
            following = result
    summary = _summary(run, batches, claimed, executed, sealed=sealed, continued=bool(following))
    if following is not None:
        context.continue_as_new(
            messages.DispatchState(
                run=run,
                batch=first + WINDOW,
                claimed=following,
                sealed_at=None if sealed_at is None else sealed_at.isoformat(),
            )
        )
        return summary
    yield context.call_activity_with_retry(names.PURGE_ACTIVITY, RETRY, None)
    return summary


def _claim(context: df.DurableOrchestrationContext, run: str, batch: int) -> Any:
    owner = messages.lease_owner(context.instance_id, run, batch)
    return context.call_activity_with_retry(
        names.CLAIM_ACTIVITY, RETRY, messages.ClaimRequest(owner=owner)
    )


def _result(task: Any) -> Any:
    """The value of a task `task_any` returned; a task that failed (its retries spent)
    fails the orchestration, as `task_all` would."""
    if task.state is TaskState.FAILED:
        raise task.result
    return task.result


def relay(context: df.DurableOrchestrationContext) -> Orchestration:
    """Publish outbox events for a bounded time; continue as new while more wait."""
    published: messages.PublishResult = yield context.call_activity_with_retry(
        names.PUBLISH_ACTIVITY, RETRY, None
    )
    if published["more"]:
        context.continue_as_new(None)
    return published


def _summary(
    run: str,
    batches: list[int],
    claimed: int,
    executed: list[messages.ExecuteResult],
    *,
    sealed: int,
    continued: bool,
) -> messages.DispatchSummary:
    recorded: dict[str, int] = {}
    for result in executed:
        for status, count in result["recorded"].items():
            recorded[status] = recorded.get(status, 0) + count
    return messages.DispatchSummary(
        run=run,
        batches=batches,
        claimed=claimed,
        recorded=recorded,
        lost_leases=sum(result["lost_leases"] for result in executed),
        errors=sum(result["errors"] for result in executed),
        sealed=sealed,
        continued=continued,
    )
