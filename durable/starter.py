"""The timer that keeps the two singleton orchestrations running.

On every tick of `%DISPATCH_SCHEDULE%` (UTC) it starts the dispatch and the relay
orchestration, each under its fixed instance id, unless that instance is running,
pending or suspended (an operator suspends one on purpose). Two ticks on two instances
may both find an instance absent: the second `start_new` is refused by the task hub
(`overridableExistingInstanceStates: NonRunningStates` in host.json), and the starter
that lost reads the status again and lets it be. Should both start anyway, two
dispatches run at once: that costs efficiency, never correctness, because the SQL claim
hands them disjoint batches.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from durable import names

logger = logging.getLogger(__name__)

#: The orchestrations the timer keeps running: (orchestrator function, instance id).
SINGLETONS = (
    (names.DISPATCH_ORCHESTRATOR, names.DISPATCH_INSTANCE),
    (names.RELAY_ORCHESTRATOR, names.RELAY_INSTANCE),
)

_STATUS = df.OrchestrationRuntimeStatus
#: An instance in one of these states is left alone.
_ALIVE = frozenset({_STATUS.Running, _STATUS.Pending, _STATUS.ContinuedAsNew, _STATUS.Suspended})


def register(blueprint: df.Blueprint) -> None:
    """Add the timer starter to `blueprint`: UTC, never on startup."""
    blueprint.function_name(names.STARTER)(
        blueprint.timer_trigger(
            arg_name="timer", schedule="%DISPATCH_SCHEDULE%", run_on_startup=False
        )(blueprint.durable_client_input(client_name="client")(start_orchestrations))
    )


async def start_orchestrations(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    """Start each singleton orchestration that is not alive."""
    if timer.past_due:
        logger.warning("the dispatch timer fired late; starting the orchestrations as usual")
    for orchestrator, instance_id in SINGLETONS:
        await start_singleton(client, orchestrator, instance_id)


async def start_singleton(
    client: df.DurableOrchestrationClient, orchestrator: str, instance_id: str
) -> bool:
    """Start `orchestrator` as `instance_id` unless that instance is alive; True if this
    call started it. A start refused because a concurrent starter won is not an error."""
    status = await client.get_status(instance_id)
    if status.runtime_status in _ALIVE:
        return False
    if status.runtime_status is _STATUS.Failed:
        logger.warning(
            "orchestration %s had failed (%s); starting it again",
            instance_id,
            status.output,
            extra={"instance_id": instance_id},
        )
    try:
        await client.start_new(orchestrator, instance_id)
    except Exception:
        if (await client.get_status(instance_id)).runtime_status in _ALIVE:
            logger.info(
                "orchestration %s was started by another starter",
                instance_id,
                extra={"instance_id": instance_id},
            )
            return False
        raise
    return True
