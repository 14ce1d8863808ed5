"""A durable client whose orchestrations run through the replay harness: with the app
indexed as the worker does (`tests.support.entry_script`), it stands in for the host
and its Durable extension, so the timer starter, the orchestrators and the activities
run as deployed."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import (
    DurableOrchestrationStatus,
)

from tests.support.durable_replay import Generation, OrchestrationFailed, ReplayHarness


class HarnessClient:
    """A `DurableOrchestrationClient` for the timer starter: `start_new` runs the
    orchestration to its end through `harness` before answering, and `get_status`
    answers what the last run of an instance ended as."""

    def __init__(self, harness: ReplayHarness) -> None:
        self.harness = harness
        #: Every run of each instance: its generations, in order.
        self.runs: dict[str, list[list[Generation]]] = {}
        self._status: dict[str, tuple[df.OrchestrationRuntimeStatus, Any]] = {}

    async def get_status(self, instance_id: str) -> DurableOrchestrationStatus:
        status, output = self._status.get(instance_id, (None, None))
        return status_of(instance_id, status, output)

    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str:
        assert instance_id is not None, "the starter always names its singletons"
        try:
            generations = self.harness.run(orchestration_function_name, instance_id, client_input)
        except OrchestrationFailed as failure:
            self._status[instance_id] = (df.OrchestrationRuntimeStatus.Failed, str(failure))
            return instance_id
        self.runs.setdefault(instance_id, []).append(generations)
        self._status[instance_id] = (
            df.OrchestrationRuntimeStatus.Completed,
            generations[-1].output,
        )
        return instance_id


def status_of(
    instance_id: str, status: df.OrchestrationRuntimeStatus | None, output: Any = None
) -> DurableOrchestrationStatus:
    """What `get_status` answers for `instance_id`: `status` None means no such instance."""
    return DurableOrchestrationStatus(
        instanceId=instance_id,
        runtimeStatus=None if status is None else status.value,
        output=output,
    )
