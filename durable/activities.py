"""The activities of the orchestrations: each parses its JSON, calls one use case of
`scheduler.service` on this worker's runtime, and answers JSON.

The runtime (engine, gateway, publisher) is `bootstrap.process_runtime()`: built on a
worker's first activity and shared by every later one. A transient store error (an
Azure SQL failover, throttling) is retried in place with a short backoff; anything else
fails the activity, and the orchestration's `RetryOptions` call it again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

import azure.durable_functions as df

from durable import messages, names
from scheduler import bootstrap, metrics, relay, runner
from scheduler.adapters.sql.transient import retry_transient
from scheduler.service.claim_due import claim_due
from scheduler.service.execute_claimed import Dispatch
from scheduler.service.execute_leased import execute_leased
from scheduler.service.purge_expired_responses import purge_expired_responses
from scheduler.service.seal_audit import seal_audit

logger = logging.getLogger(__name__)

#: How long one publish activity keeps starting relay rounds. A round started just
#: before this runs to its end, up to the Kafka delivery timeout: the bound on the
#: activity is this plus one round.
PUBLISH_SECONDS = 10.0


def register(blueprint: df.Blueprint) -> None:
    """Add the activity functions to `blueprint`."""
    for activity, name in (
        (claim_batch, names.CLAIM_ACTIVITY),
        (execute_chunk, names.EXECUTE_ACTIVITY),
        (seal_audit_trail, names.SEAL_ACTIVITY),
        (purge_idempotent_responses, names.PURGE_ACTIVITY),
        (publish_events, names.PUBLISH_ACTIVITY),
    ):
        blueprint.function_name(name)(blueprint.activity_trigger(input_name="request")(activity))


def claim_batch(request: messages.ClaimRequest) -> messages.ClaimResult:
    """Lease up to `DISPATCH_BATCH_SIZE` due operations to the request's owner for
    `LEASE_SECONDS`, and answer their ids in chunks of `DISPATCH_CHUNK_SIZE`.

    If this activity dies after its claim committed, its retry claims another batch under
    the same owner; the first one's operations are claimed again when their lease expires."""
    runtime = bootstrap.process_runtime()
    settings = runtime.settings
    claimed = retry_transient(
        lambda: metrics.measured_claim(
            lambda: claim_due(
                uow=runtime.unit_of_work(),
                clock=runtime.clock,
                worker=request["owner"],
                limit=settings.dispatch_batch_size,
                lease=timedelta(seconds=settings.lease_seconds),
            ),
            runtime.clock,
        ),
        what="claim",
    )
    ids = [str(operation.id) for operation in claimed]
    size = settings.dispatch_chunk_size
    return messages.ClaimResult(
        claimed=len(ids),
        full=len(ids) == settings.dispatch_batch_size,
        chunks=[ids[start : start + size] for start in range(0, len(ids), size)],
    )


def execute_chunk(request: messages.ExecuteRequest) -> messages.ExecuteResult:
    """Execute the request's operations that its owner still holds, and record them."""
    runtime = bootstrap.process_runtime()
    dispatch = Dispatch(
        uow_factory=runtime.unit_of_work,
        gateway=runtime.gateway,
        clock=runtime.clock,
        worker=request["owner"],
    )
    ids = [UUID(text) for text in request["operations"]]
    started = runtime.clock.now()
    report = retry_transient(lambda: execute_leased(ids, dispatch), what="execute")
    metrics.record_execution(report)
    lease = timedelta(seconds=runtime.settings.lease_seconds)
    runner.warn_if_near_the_lease(runtime.clock.now() - started, lease, len(ids))
    if report.lost_leases:
        logger.warning(
            "%s of %s operations were no longer leased to %s; a later claim takes them",
            report.lost_leases,
            len(ids),
            request["owner"],
            extra={"owner": request["owner"], "lost_leases": report.lost_leases},
        )
    return messages.ExecuteResult(
        recorded={status.value: count for status, count in report.recorded.items()},
        lost_leases=report.lost_leases,
        errors=report.errors,
    )


def seal_audit_trail(_request: None) -> messages.SealResult:
    """Seal the audit records written since the last block into the next block."""
    runtime = bootstrap.process_runtime()
    result = retry_transient(
        lambda: seal_audit(uow_factory=runtime.unit_of_work, clock=runtime.clock),
        what="seal audit",
    )
    return messages.SealResult(sealed=result.records_sealed)


def purge_idempotent_responses(_request: None) -> messages.PurgeResult:
    """Delete a batch of stored API responses whose idempotency window has passed."""
    runtime = bootstrap.process_runtime()
    purged = retry_transient(
        lambda: purge_expired_responses(uow=runtime.unit_of_work(), clock=runtime.clock),
        what="purge idempotent responses",
    )
    return messages.PurgeResult(purged=purged)


def publish_events(_request: None) -> messages.PublishResult:
    """Relay outbox events to Kafka in rounds for up to `PUBLISH_SECONDS`; nothing to do
    when Kafka is not configured (the events stay readable in the outbox)."""
    runtime = bootstrap.process_runtime()
    publisher = runtime.publisher
    if publisher is None:
        return messages.PublishResult(published=0, more=False)
    drained = relay.drain(runtime, publisher, seconds=PUBLISH_SECONDS)
    return messages.PublishResult(published=drained.published, more=drained.more)
