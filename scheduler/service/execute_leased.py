"""Use case: execute, by their ids, the operations a claim leased to a named owner.

The Durable dispatch claims a batch in one activity and executes it in others, which may
run later and on other instances: they are handed operation ids and the claim's lease
owner, never operations. Each reads back the operations that owner still holds under a
lease that has not expired, and executes those as `execute_claimed` does. An operation
whose lease has expired is left alone, since another claim may own it by now; the next
claim takes it again, and the gateway answers its repeated idempotency key (the
operation id) with the first booking.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from uuid import UUID

from scheduler.service.execute_claimed import Dispatch, ExecutionReport, execute_claimed


def execute_leased(operation_ids: Sequence[UUID], dispatch: Dispatch) -> ExecutionReport:
    """Execute and record the operations of `operation_ids` that `dispatch.worker` still
    holds. Those it no longer holds count as lost leases in the report."""
    with dispatch.uow_factory() as uow:
        held = uow.operations.leased(
            operation_ids, worker=dispatch.worker, now=dispatch.clock.now()
        )
        # Read only: leaving the block rolls back, which ends the transaction.
    report = execute_claimed(held, dispatch)
    not_held = len(set(operation_ids)) - len(held)
    return dataclasses.replace(report, lost_leases=report.lost_leases + not_held)
