"""The dispatcher loop of `tsched serve`: the service calls the Durable dispatch
orchestration makes as activities (claim a batch, execute it, seal the audit trail),
run one after another in one process. Publishing the outbox is not among them: it waits
on the broker, so it runs beside the loop (`scheduler.relay`), never in it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from scheduler import metrics
from scheduler.adapters.sql import transient
from scheduler.backoff import Backoff
from scheduler.bootstrap import Runtime
from scheduler.claim_size import ClaimSizer
from scheduler.clocks import AcceleratedClock
from scheduler.domain.operation import OperationStatus
from scheduler.service.claim_due import claim_due
from scheduler.service.execute_claimed import Dispatch, TransactionMode, execute_claimed
from scheduler.service.purge_expired_responses import purge_expired_responses
from scheduler.service.seal_audit import seal_audit

logger = logging.getLogger(__name__)

#: Executing a batch may take this share of its lease before a warning says so.
LEASE_WARNING_SHARE = 0.5

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopSettings:
    """How the loop runs: batch size, lease, transaction mode, how long it sleeps (in
    real seconds) when nothing was due, how often a busy loop seals the audit trail (an
    idle pass always does), and how it waits between failed passes."""

    batch_size: int = 500
    lease: timedelta = timedelta(seconds=60)
    mode: TransactionMode = TransactionMode.BATCH
    idle_sleep: float = 0.5
    seal_interval: float = 2.0
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cycle:
    """What one pass did."""

    claimed: int
    executed_in: timedelta = timedelta(0)
    recorded: dict[OperationStatus, int] = field(default_factory=dict)
    lost_leases: int = 0
    errors: int = 0
    sealed: int = 0
    purged: int = 0

    @property
    def busy(self) -> bool:
        """Whether the pass found work, so the next should start at once."""
        return any((self.claimed, self.sealed, self.purged))


def run_cycle(
    runtime: Runtime,
    loop: LoopSettings,
    *,
    seal: bool = True,
    limit: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Cycle:
    """Claim one batch of due operations (at most `limit`, by default the batch size),
    execute it and, if `seal` or nothing was due,
    seal the audit trail once and purge a batch of expired idempotent responses. Each
    step commits on its own; a crash between steps leaves work the next pass (of this
    or any process) picks up.

    Each step is retried on its own when the store fails transiently
    (`transient.retry_transient`, waiting with `sleep`), never the whole pass: a pass
    run again after a failed execute would claim a new batch and strand the first
    one's leases until they expire. Executing the same claimed operations again is safe:
    the gateway answers a repeated operation id with its first result, and an outcome is
    only recorded while this worker holds the lease. A claim whose commit reached the
    store before the error leaves its batch to be claimed again when the leases expire."""

    def retried(what: str, step: Callable[[], T]) -> T:
        return transient.retry_transient(step, what=what, sleep=sleep)

    claimed = retried(
        "claim",
        lambda: metrics.measured_claim(
            lambda: claim_due(
                uow=runtime.unit_of_work(),
                clock=runtime.clock,
                worker=runtime.worker,
                limit=loop.batch_size if limit is None else limit,
                lease=loop.lease,
            ),
            runtime.clock,
        ),
    )
    dispatch = Dispatch(
        uow_factory=runtime.unit_of_work,
        gateway=runtime.gateway,
        clock=runtime.clock,
        worker=runtime.worker,
        mode=loop.mode,
    )
    started = runtime.clock.now()
    report = retried("execute", lambda: execute_claimed(claimed, dispatch))
    executed_in = runtime.clock.now() - started
    metrics.record_execution(report)
    warn_if_near_the_lease(executed_in, loop.lease, len(claimed))
    sealed = purged = 0
    if seal or not claimed:
        sealed = retried(
            "seal",
            lambda: (
                seal_audit(uow_factory=runtime.unit_of_work, clock=runtime.clock).records_sealed
            ),
        )
        purged = retried(
            "purge",
            lambda: purge_expired_responses(uow=runtime.unit_of_work(), clock=runtime.clock),
        )
    return Cycle(
        claimed=len(claimed),
        executed_in=executed_in,
        recorded=report.recorded,
        lost_leases=report.lost_leases,
        errors=report.errors,
        sealed=sealed,
        purged=purged,
    )


def warn_if_near_the_lease(took: timedelta, lease: timedelta, claimed: int) -> None:
    """Say so when executing a batch took more than `LEASE_WARNING_SHARE` of its lease:
    a little slower and the leases expire mid-batch, other workers claim the operations
    again, and after a few rounds they are dead, "claimed too often without an outcome"
    (never paid twice, but not paid). Measured on the runtime's clock, as leases are."""
    if claimed and took > lease * LEASE_WARNING_SHARE:
        logger.warning(
            "executing a batch of %d took %.1f s of its %.0f s lease: lower "
            "DISPATCH_BATCH_SIZE or raise LEASE_SECONDS, or leases will expire mid-batch",
            claimed,
            took.total_seconds(),
            lease.total_seconds(),
            extra={"claimed": claimed, "execute_seconds": took.total_seconds()},
        )


def serve(
    runtime: Runtime,
    loop: LoopSettings,
    *,
    stop: threading.Event,
    on_cycle: Callable[[Cycle], None] | None = None,
    until_idle: bool = False,
) -> None:
    """Run passes until `stop` is set (or, with `until_idle`, until a pass finds
    nothing to do). Each claim is sized to the gateway's pace (`ClaimSizer`), so a
    batch executes well inside its lease.

    A pass that fails, or the idle wait's look at the next due time, is logged and tried
    again after a wait that doubles while it keeps failing (`loop.backoff`): a store
    restarting or out of reach or a gateway may come back, and one line a wait says
    so. Only the store refusing our settings (`transient.is_misconfigured`:
    credentials, database name) stops the loop, raising.
    With `until_idle` (a batch job) a failed pass raises, so the job fails visibly."""

    def pause(seconds: float) -> None:
        # Waits between retries of a step end early when the loop is told to stop.
        stop.wait(seconds)

    failures = 0
    next_seal = time.monotonic()
    sizer = ClaimSizer(loop.batch_size, loop.lease)
    while not stop.is_set():
        seal = time.monotonic() >= next_seal
        try:
            cycle = run_cycle(runtime, loop, seal=seal, limit=sizer.limit(), sleep=pause)
            wait = 0.0 if cycle.busy else _seconds_until_due(runtime, loop.idle_sleep)
        except Exception as error:
            if until_idle or transient.is_misconfigured(error):
                raise
            failures += 1
            delay = loop.backoff.delay(failures)
            _log_failure(error, failures, delay)
            stop.wait(delay)
            continue
        sizer.observe(cycle.claimed, cycle.executed_in)
        if failures:
            logger.warning(
                "dispatching again after %d failed passes", failures, extra={"failures": failures}
            )
            failures = 0
        if seal:
            next_seal = time.monotonic() + loop.seal_interval
        if on_cycle is not None:
            on_cycle(cycle)
        if not cycle.busy:
            if until_idle:
                return
            stop.wait(wait)


def wait_for_store(
    call: Callable[[], object],
    *,
    what: str,
    stop: threading.Event,
    backoff: Backoff | None = None,
) -> bool:
    """Run `call` until it succeeds, waiting out a store that cannot be used
    (`transient.is_unavailable`) as `serve` does; True once it succeeded, False if
    `stop` was set first. Any other error, a refused configuration among them, is
    raised: a dispatcher starting while its database restarts waits, a misconfigured one
    stops."""
    failures = 0
    while not stop.is_set():
        try:
            call()
        except Exception as error:
            if not transient.is_unavailable(error):
                raise
            failures += 1
            delay = (backoff or Backoff()).delay(failures)
            logger.warning(
                "%s: the store is unavailable (%s); trying again in %.1f s",
                what,
                transient.describe(error),
                delay,
                extra={
                    "what": what,
                    "failures": failures,
                    "store_error": transient.describe(error),
                },
            )
            stop.wait(delay)
            continue
        return True
    return False


def _log_failure(error: Exception, failures: int, delay: float) -> None:
    extra = {"failures": failures, "retry_delay_seconds": delay}
    if transient.is_unavailable(error):
        # Expected while a database restarts: one line, no traceback.
        logger.warning(
            "the store is unavailable (%s); dispatch pass failed (%d in a row), "
            "next attempt in %.1f s",
            transient.describe(error),
            failures,
            delay,
            extra={**extra, "store_error": transient.describe(error)},
        )
    else:
        logger.exception(
            "dispatch pass failed (%d in a row); next attempt in %.1f s",
            failures,
            delay,
            extra=extra,
        )


def _seconds_until_due(runtime: Runtime, longest: float) -> float:
    """Real seconds until the next operation comes due, at most `longest`: an idle
    loop wakes for the next due time rather than a polling tick after it."""
    with runtime.unit_of_work() as uow:
        due = uow.operations.next_due_at()
    if due is None:
        return longest
    wait = due - runtime.clock.now()
    clock = runtime.clock
    seconds = (
        clock.real_seconds(wait) if isinstance(clock, AcceleratedClock) else wait.total_seconds()
    )
    return max(0.0, min(longest, seconds))
