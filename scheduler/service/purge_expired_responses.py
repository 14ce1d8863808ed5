"""Use case: delete API responses whose idempotency keys have expired.

A response is kept so that a retried request gets the same answer; once its key has
expired (`IdempotentRequest.ttl`) the row serves no one, and a table that only grows
would slow every replay lookup and keep customers' response bodies longer than needed.
"""

from __future__ import annotations

from scheduler.ports import Clock, UnitOfWork

#: Rows deleted per pass: one short transaction, however large the backlog.
DEFAULT_LIMIT = 1000


def purge_expired_responses(*, uow: UnitOfWork, clock: Clock, limit: int = DEFAULT_LIMIT) -> int:
    """Delete up to about `limit` expired responses in one transaction; returns how
    many went. A full batch means more may be waiting for the next pass."""
    with uow:
        purged = uow.idempotency.purge_expired(clock.now(), limit)
        uow.commit()
    return purged
