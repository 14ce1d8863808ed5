"""The two orchestrations: dispatch (claim, execute, seal) and relay (publish events).

Both are deterministic generators: no clock but `context.current_utc_datetime`, no
random but `context.new_guid()`, no I/O; every effect is an activity, called with
`RETRY`. Each dispatch generation executes one batch and continues as new while another
was waiting, so a history holds one batch's events and stays small; once idle, the
orchestration ends and the next timer tick starts it again.

The relay is an orchestration of its own, not a step of the dispatch: publishing waits
on Kafka (for the delivery timeout when the broker is down), and payments must never
wait on notifications.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from durable import messages, names

#: Activity retries: 3 attempts in all, 2 s apart (the Python SDK sets no backoff
#: coefficient). An execute activity retried after booking is safe: the gateway answers
#: the same idempotency keys with the first bookings.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3)

#: A busy run seals the audit trail at most this often; its last generation always does.
SEAL_INTERVAL = timedelta(seconds=2)

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
    """Execute one claimed batch in parallel chunks while the next batch is claimed and,
    when due, the audit trail sealed; continue as new with the next batch while there
    is one; idle, purge expired idempotent responses and end.

    The claim of the next batch and the seal run beside the execution of this batch
    (listed first, so they are not queued behind it): no worker waits for a claim or a
    seal between batches. Only the first generation of a run claims on its own."""
    state = messages.dispatch_state(context.get_input())
    run = state["run"] or context.new_guid().hex
    batch = state["batch"]
    owner = messages.lease_owner(context.instance_id, run, batch)
    claim = state["claimed"]
    if claim is None:
        claim = yield _claim(context, owner)
    now = context.current_utc_datetime
    sealed_at = messages.instant(state["sealed_at"])
    # The last generation of a run seals whatever is left; a busy run every interval.
    seal = not claim["full"] or sealed_at is None or now - sealed_at >= SEAL_INTERVAL
    tasks = [
        context.call_activity_with_retry(
            names.EXECUTE_ACTIVITY, RETRY, messages.ExecuteRequest(owner=owner, operations=chunk)
        )
        for chunk in claim["chunks"]
    ]
    if seal:
        tasks.insert(0, context.call_activity_with_retry(names.SEAL_ACTIVITY, RETRY, None))
    if claim["full"]:
        tasks.insert(0, _claim(context, messages.lease_owner(context.instance_id, run, batch + 1)))
    results = yield context.task_all(tasks)
    following: messages.ClaimResult | None = results.pop(0) if claim["full"] else None
    sealed = 0
    if seal:
        sealed, sealed_at = results.pop(0)["sealed"], now
    more = following is not None and following["claimed"] > 0
    summary = _summary(owner, claim, results, sealed=sealed, continued=more)
    if more:
        context.continue_as_new(
            messages.DispatchState(
                run=run,
                batch=batch + 1,
                claimed=following,
                sealed_at=None if sealed_at is None else sealed_at.isoformat(),
            )
        )
        return summary
    yield context.call_activity_with_retry(names.PURGE_ACTIVITY, RETRY, None)
    return summary


def _claim(context: df.DurableOrchestrationContext, owner: str) -> Any:
    return context.call_activity_with_retry(
        names.CLAIM_ACTIVITY, RETRY, messages.ClaimRequest(owner=owner)
    )


def relay(context: df.DurableOrchestrationContext) -> Orchestration:
    """Publish outbox events for a bounded time; continue as new while more wait."""
    published: messages.PublishResult = yield context.call_activity_with_retry(
        names.PUBLISH_ACTIVITY, RETRY, None
    )
    if published["more"]:
        context.continue_as_new(None)
    return published


def _summary(
    owner: str,
    claim: messages.ClaimResult,
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
        owner=owner,
        claimed=claim["claimed"],
        recorded=recorded,
        lost_leases=sum(result["lost_leases"] for result in executed),
        errors=sum(result["errors"] for result in executed),
        sealed=sealed,
        continued=continued,
    )
