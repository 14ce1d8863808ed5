"""Use case: execute operations this worker has claimed, and record what happened.

1. Decide each operation that needs no money movement (reminders, paused schedules,
   missed runs, exhausted attempts).
2. Send the transfers to the payment gateway in one call, outside any transaction,
   each with the operation id as idempotency key.
3. Record every outcome with its history row, audit record, event and the schedule's
   next occurrence: in one transaction with a savepoint per operation (``batch``), or
   one transaction per operation (``per_operation``).

A crash anywhere is safe: the lease expires, another worker claims the operation and
asks the gateway again with the same key, which returns the first result.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from scheduler import tracing
from scheduler.domain import plan
from scheduler.domain.audit import AuditEntry
from scheduler.domain.events import EventType
from scheduler.domain.occurrence import operations_for
from scheduler.domain.operation import (
    FINAL,
    Operation,
    OperationKind,
    OperationStatus,
    Outcome,
)
from scheduler.domain.retry import MissedRunPolicy, RetryPolicy, recommended_action
from scheduler.domain.schedule import LIVE_STATUSES, ScheduleStatus
from scheduler.ports import (
    Clock,
    PaymentGateway,
    ScheduleState,
    StoredSchedule,
    TransferOutcome,
    TransferRequest,
    TransferResult,
    UnitOfWork,
)
from scheduler.service import event_data

logger = logging.getLogger(__name__)

_EVENT_FOR_STATUS = {
    OperationStatus.SUCCEEDED: EventType.EXECUTION_SUCCEEDED,
    OperationStatus.RETRY_WAIT: EventType.EXECUTION_RETRY_SCHEDULED,
    OperationStatus.FAILED: EventType.EXECUTION_FAILED,
    OperationStatus.DEAD: EventType.OPERATION_DEAD,
    OperationStatus.SKIPPED: EventType.OPERATION_SKIPPED,
}


class TransactionMode(enum.StrEnum):
    """How outcomes are committed (DESIGN.md §3, Throughput)."""

    BATCH = "batch"
    PER_OPERATION = "per_operation"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispatch:
    """What executing needs besides the operations: where to record, whom to pay through,
    and the policies."""

    uow_factory: Callable[[], UnitOfWork]
    gateway: PaymentGateway
    clock: Clock
    worker: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    missed: MissedRunPolicy = field(default_factory=MissedRunPolicy)
    rng: random.Random = field(default_factory=random.Random)
    mode: TransactionMode = TransactionMode.BATCH


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionReport:
    """How many outcomes were recorded, by status, and how many leases were lost."""

    recorded: dict[OperationStatus, int]
    lost_leases: int
    errors: int


def execute_claimed(operations: Sequence[Operation], dispatch: Dispatch) -> ExecutionReport:
    """Execute and record `operations` (claimed by `dispatch.worker`)."""
    if not operations:
        return ExecutionReport(recorded={}, lost_leases=0, errors=0)
    with dispatch.uow_factory() as uow:
        schedules = uow.schedules.get_many(sorted({op.schedule_id for op in operations}))
    outcomes = [_traced(outcome) for outcome in _decide(operations, schedules, dispatch)]
    return _record_all(outcomes, schedules, dispatch)


def _traced(outcome: Outcome) -> Outcome:
    """`outcome` with the trace context of a span recording its attempt, a child of the
    context its operation was created in."""
    operation = outcome.operation
    attributes = {
        "tsched.operation.id": str(operation.id),
        "tsched.operation.kind": operation.kind.value,
        "tsched.operation.attempt": operation.attempts,
        "tsched.operation.status": outcome.status.value,
    }
    if outcome.error_code is not None:
        attributes["tsched.error_code"] = outcome.error_code
    traceparent = tracing.record_span(
        f"execute {operation.kind.value}",
        parent=operation.traceparent,
        start=outcome.started_at,
        end=outcome.finished_at,
        attributes=attributes,
    )
    return replace(outcome, traceparent=traceparent)


def _decide(
    operations: Sequence[Operation], schedules: dict[UUID, StoredSchedule], dispatch: Dispatch
) -> list[Outcome]:
    started = dispatch.clock.now()
    decided: dict[int, Outcome] = {}
    transfers: list[tuple[int, Operation]] = []
    for position, operation in enumerate(operations):
        outcome = _decide_without_gateway(operation, schedules[operation.schedule_id], dispatch)
        if outcome is None:
            transfers.append((position, operation))
        else:
            decided[position] = outcome
    if transfers:
        requests = [
            TransferRequest(
                idempotency_key=str(operation.id),
                debit_account=operation.debit_account,
                credit_account=operation.credit_account,
                amount=operation.amount,
                reference=schedules[operation.schedule_id].schedule.reference,
            )
            for _, operation in transfers
        ]
        results = dispatch.gateway.transfer_many(requests)
        finished = dispatch.clock.now()
        for (position, operation), result in zip(transfers, results, strict=True):
            stored = schedules[operation.schedule_id]
            decided[position] = _transfer_outcome(
                operation, stored, result, dispatch, started=started, finished=finished
            )
    return [decided[position] for position in range(len(operations))]


def _decide_without_gateway(
    operation: Operation, stored: StoredSchedule, dispatch: Dispatch
) -> Outcome | None:
    now = dispatch.clock.now()

    def outcome(
        status: OperationStatus, code: str | None = None, reason: str | None = None
    ) -> Outcome:
        return Outcome(
            operation=operation,
            status=status,
            started_at=now,
            finished_at=now,
            error_code=code,
            reason=reason,
            recommended_action=_action_for(status, code),
        )

    status = stored.schedule.status
    reminder = operation.kind is OperationKind.REMINDER
    # An execution of a completed schedule still runs: operations staff re-drove it.
    halted = status in (ScheduleStatus.PAUSED, ScheduleStatus.CANCELLED)
    if halted or (reminder and status is not ScheduleStatus.ACTIVE):
        return outcome(OperationStatus.SKIPPED, f"schedule_{status.value}", "schedule not active")
    if reminder:
        if dispatch.missed.reminder_stale(operation.due_at, now):
            return outcome(OperationStatus.SKIPPED, "reminder_stale", "reminder past its time")
        return outcome(OperationStatus.SUCCEEDED)
    if operation.attempts_since_redrive > dispatch.retry.max_transient_attempts:
        return outcome(
            OperationStatus.DEAD, "attempts_exhausted", "claimed too often without an outcome"
        )
    if operation.attempts == 1 and dispatch.missed.execution_missed(operation.due_at, now):
        return outcome(
            OperationStatus.FAILED,
            "missed_execution_window",
            "not executed: the scheduler reached it after the grace window",
        )
    return None


def _transfer_outcome(
    operation: Operation,
    stored: StoredSchedule,
    result: TransferResult,
    dispatch: Dispatch,
    *,
    started: datetime,
    finished: datetime,
) -> Outcome:
    retry = dispatch.retry
    schedule = stored.schedule
    status = OperationStatus.SUCCEEDED
    retry_at = None
    declined = result.outcome is TransferOutcome.DECLINED_RETRYABLE
    if result.outcome is TransferOutcome.UNAVAILABLE:
        # Claims count every attempt (crashes included): the bound that stops a loop.
        if operation.attempts_since_redrive >= retry.max_transient_attempts:
            status = OperationStatus.DEAD
        else:
            status = OperationStatus.RETRY_WAIT
            failures = operation.attempts_since_redrive - operation.declines
            retry_at = finished + retry.transient_delay(failures, dispatch.rng)
    elif declined:
        # Declines have their own bound, so gateway outages do not use it up.
        if operation.declines + 1 >= retry.max_insufficient_funds_attempts:
            status = OperationStatus.FAILED
        else:
            status = OperationStatus.RETRY_WAIT
            retry_at = retry.next_business_morning(
                finished, schedule.calendar, schedule.recurrence.tz
            )
    elif result.outcome is TransferOutcome.REJECTED:
        status = OperationStatus.FAILED
    unavailable = result.outcome is TransferOutcome.UNAVAILABLE
    code = result.code or ("gateway_unavailable" if unavailable else None)
    return Outcome(
        operation=operation,
        status=status,
        started_at=started,
        finished_at=finished,
        retry_at=retry_at,
        error_code=None if status is OperationStatus.SUCCEEDED else code,
        reason=None if status is OperationStatus.SUCCEEDED else result.reason,
        recommended_action=_action_for(status, code),
        gateway_reference=result.reference,
        declined=declined,
    )


def _action_for(status: OperationStatus, code: str | None) -> str | None:
    """What a person should do: only an operation that stopped for good needs someone."""
    if status in (OperationStatus.FAILED, OperationStatus.DEAD):
        return recommended_action(code)
    return None


def _record_all(
    outcomes: list[Outcome], schedules: dict[UUID, StoredSchedule], dispatch: Dispatch
) -> ExecutionReport:
    if dispatch.mode is TransactionMode.BATCH:
        try:
            with dispatch.uow_factory() as uow:
                recorded = _record(uow, outcomes, schedules, dispatch)
                uow.commit()
            return _report(outcomes, recorded, errors=0)
        except Exception as error:
            # No traceback: the one-by-one pass logs each outcome that still fails, with
            # its own; the message may quote parameters (account numbers), so only the
            # error's class is named.
            logger.warning(
                "recording %s outcomes together failed (%s); recording them one by one",
                len(outcomes),
                type(error).__name__,
            )
        return _record_one_by_one(outcomes, schedules, dispatch)
    recorded = set()
    for outcome in outcomes:
        with dispatch.uow_factory() as uow:
            recorded |= _record(uow, [outcome], schedules, dispatch)
            uow.commit()
    return _report(outcomes, recorded, errors=0)


def _record_one_by_one(
    outcomes: list[Outcome], schedules: dict[UUID, StoredSchedule], dispatch: Dispatch
) -> ExecutionReport:
    """One transaction, a savepoint per outcome: an outcome that cannot be recorded
    rolls back alone and its operation is retried when its lease expires."""
    recorded: set[UUID] = set()
    errors = 0
    with dispatch.uow_factory() as uow:
        for outcome in outcomes:
            try:
                with uow.savepoint():
                    recorded |= _record(uow, [outcome], schedules, dispatch)
            except Exception:
                errors += 1
                logger.exception(
                    "recording failed; the lease will expire and the operation be retried",
                    extra={"operation_id": str(outcome.operation.id)},
                )
        uow.commit()
    return _report(outcomes, recorded, errors=errors)


def _report(outcomes: list[Outcome], recorded: set[UUID], *, errors: int) -> ExecutionReport:
    by_status: dict[OperationStatus, int] = {}
    for outcome in outcomes:
        if outcome.operation.id in recorded:
            by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
    lost = len(outcomes) - len(recorded) - errors
    return ExecutionReport(recorded=by_status, lost_leases=lost, errors=errors)


def _record(
    uow: UnitOfWork,
    outcomes: Sequence[Outcome],
    schedules: dict[UUID, StoredSchedule],
    dispatch: Dispatch,
) -> set[UUID]:
    """Record the outcomes of the operations this worker still holds, with their
    history rows, audit records, events, next occurrences and schedule completions, in
    a few set-wide statements. Returns the ids recorded."""
    executions = sorted({o.operation.schedule_id for o in outcomes if _is_execution(o)})
    # Schedules first, then operations: the order cancel_schedule locks them in.
    states = uow.schedules.lock(executions)
    won = uow.operations.record_many(outcomes, worker=dispatch.worker)
    recorded = [outcome for outcome in outcomes if outcome.operation.id in won]
    if not recorded:
        return won
    uow.history.add(recorded, worker=dispatch.worker)
    uow.audit.append([_audit_entry(outcome, dispatch) for outcome in recorded])
    uow.outbox.add([event_data.outcome_event(_event_type(o), o) for o in recorded])
    ended = _materialise_next(uow, [o for o in recorded if _is_execution(o)], schedules, states)
    _complete(uow, ended, schedules, states, dispatch)
    return won


def _is_execution(outcome: Outcome) -> bool:
    return outcome.operation.kind is OperationKind.EXECUTION


def _event_type(outcome: Outcome) -> EventType:
    reminder = outcome.operation.kind is OperationKind.REMINDER
    if reminder and outcome.status is OperationStatus.SUCCEEDED:
        return EventType.REMINDER_DUE
    return _EVENT_FOR_STATUS[outcome.status]


def _audit_entry(outcome: Outcome, dispatch: Dispatch) -> AuditEntry:
    operation = outcome.operation
    return AuditEntry(
        occurred_at=outcome.finished_at,
        actor=f"worker:{dispatch.worker}",
        action=f"operation.{outcome.status.value}",
        subject_type="operation",
        subject_id=str(operation.id),
        customer_id=operation.customer_id,
        details={
            "attempt": operation.attempts,
            "error_code": outcome.error_code,
            "gateway_reference": outcome.gateway_reference,
        },
    )


def _materialise_next(
    uow: UnitOfWork,
    recorded: Sequence[Outcome],
    schedules: dict[UUID, StoredSchedule],
    states: dict[UUID, ScheduleState],
) -> list[Outcome]:
    """Create, once, the occurrence after each recorded execution that is its
    schedule's next one to materialise. Returns the final outcomes of schedules whose
    sequence has ended: they may complete the schedule."""
    next_indexes: dict[UUID, int | None] = {}
    created: list[Operation] = []
    ended: list[Outcome] = []
    for outcome in recorded:
        schedule = schedules[outcome.operation.schedule_id].schedule
        state = states[schedule.id]
        next_index = next_indexes.get(schedule.id, state.next_index)
        following = outcome.operation.occurrence_index + 1
        if state.status in LIVE_STATUSES and next_index == following:
            nominal = plan.occurrence_date(schedule, following)
            after = plan.occurrence_date(schedule, following + 1)
            next_index = following + 1 if after is not None else None
            next_indexes[schedule.id] = next_index
            if nominal is not None:
                planned = plan.planned_execution(schedule, following, nominal)
                created.extend(
                    operations_for(
                        schedule,
                        planned,
                        now=outcome.finished_at,
                        traceparent=outcome.traceparent,
                    )
                )
        if next_index is None and outcome.status in FINAL:
            ended.append(outcome)
    uow.schedules.set_next_indexes(next_indexes)
    if created:
        uow.operations.add(created, recorded[0].finished_at)
    return ended


def _complete(
    uow: UnitOfWork,
    ended: Sequence[Outcome],
    schedules: dict[UUID, StoredSchedule],
    states: dict[UUID, ScheduleState],
    dispatch: Dispatch,
) -> None:
    """Mark COMPLETED each live schedule whose last execution has a final outcome and
    that has no execution left unfinished."""
    last_outcome = {
        o.operation.schedule_id: o
        for o in ended
        if states[o.operation.schedule_id].status in LIVE_STATUSES
    }
    if not last_outcome:
        return
    unfinished = uow.operations.unfinished_executions(list(last_outcome))
    done = {sid: outcome for sid, outcome in last_outcome.items() if sid not in unfinished}
    if not done:
        return
    uow.schedules.complete_many(list(done), max(o.finished_at for o in done.values()))
    entries = []
    events = []
    for schedule_id, outcome in done.items():
        schedule = replace(
            schedules[schedule_id].schedule,
            status=ScheduleStatus.COMPLETED,
            version=states[schedule_id].version + 1,
        )
        entries.append(
            AuditEntry(
                occurred_at=outcome.finished_at,
                actor=f"worker:{dispatch.worker}",
                action="schedule.completed",
                subject_type="schedule",
                subject_id=str(schedule_id),
                customer_id=schedule.customer_id,
                details={"last_operation_id": str(outcome.operation.id)},
            )
        )
        events.append(
            event_data.schedule_event(
                EventType.SCHEDULE_COMPLETED,
                schedule,
                outcome.finished_at,
                traceparent=outcome.traceparent,
            )
        )
    uow.audit.append(entries)
    uow.outbox.add(events)
