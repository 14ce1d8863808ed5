"""The names the Durable Functions are known by: the host, the orchestrations that call
activities by name, and the timer that starts the orchestrations all read them here.

The two orchestrations are singletons, each under a fixed instance id.
"""

from __future__ import annotations

#: The timer function that starts the orchestrations.
STARTER = "start_orchestrations"

#: Claims due operations, fans their execution out, seals the audit trail.
DISPATCH_ORCHESTRATOR = "dispatch_orchestrator"
DISPATCH_INSTANCE = "tsched-dispatch"

#: Relays the outbox to Kafka, apart from the dispatch so an outage never delays it.
RELAY_ORCHESTRATOR = "relay_orchestrator"
RELAY_INSTANCE = "tsched-relay"

CLAIM_ACTIVITY = "claim_batch"
EXECUTE_ACTIVITY = "execute_chunk"
SEAL_ACTIVITY = "seal_audit_trail"
PURGE_ACTIVITY = "purge_idempotent_responses"
PUBLISH_ACTIVITY = "publish_events"
