"""Use case: lease a batch of due operations to this worker."""

from __future__ import annotations

from datetime import timedelta

from scheduler.domain.operation import Operation
from scheduler.ports import Clock, UnitOfWork


def claim_due(
    *, uow: UnitOfWork, clock: Clock, worker: str, limit: int, lease: timedelta
) -> list[Operation]:
    """Lease up to `limit` operations due now to `worker` for `lease`, oldest first, in
    one short transaction. An operation whose lease expires unrecorded (the worker
    crashed) is claimed again by whoever asks next."""
    now = clock.now()
    with uow:
        claimed = uow.operations.claim_due(
            now=now, limit=limit, worker=worker, lease_until=now + lease
        )
        uow.commit()
    return claimed
