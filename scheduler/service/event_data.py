"""The events the use cases emit, built in one place so their data stays consistent.

Account numbers are masked to their last four characters: events travel to
notification services that need to say "your payment from ...1234", not the number.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from scheduler import tracing
from scheduler.domain.events import Event, EventType
from scheduler.domain.money import Money
from scheduler.domain.operation import Outcome
from scheduler.domain.schedule import Schedule


def masked(account: str) -> str:
    """An account number showing only its last four characters."""
    return "****" + account[-4:]


def amount(value: Money) -> dict[str, str]:
    """An amount as JSON: decimal string and currency."""
    return {"value": str(value.amount), "currency": value.currency.code}


def schedule_event(
    event_type: EventType,
    schedule: Schedule,
    at: datetime,
    *,
    traceparent: str | None = None,
    **extra: Any,
) -> Event:
    """An event about a schedule as a whole; its id is stable per schedule version. It
    carries `traceparent`, by default the trace running now (the request's)."""
    data: dict[str, Any] = {
        "schedule_id": str(schedule.id),
        "kind": schedule.kind.value,
        "status": schedule.status.value,
        "version": schedule.version,
        "amount": amount(schedule.amount),
        "debit_account": masked(schedule.debit_account),
        "credit_account": masked(schedule.credit_account),
        "purpose": schedule.purpose.value,
    }
    data.update({key: _json(value) for key, value in extra.items()})
    return Event(
        event_id=uuid.uuid5(schedule.id, f"{event_type.value}/{schedule.version}"),
        type=event_type,
        schedule_id=schedule.id,
        customer_id=schedule.customer_id,
        occurred_at=at,
        data=data,
        traceparent=traceparent or tracing.current_traceparent(),
    )


def outcome_event(event_type: EventType, outcome: Outcome) -> Event:
    """An event about one attempt at an operation, in the attempt's trace; its id is
    stable per attempt."""
    operation = outcome.operation
    data: dict[str, Any] = {
        "operation_id": str(operation.id),
        "schedule_id": str(operation.schedule_id),
        "kind": operation.kind.value,
        "occurrence_index": operation.occurrence_index,
        "reminder_offset": operation.reminder_offset or None,
        "nominal_date": operation.nominal_date.isoformat(),
        "execution_date": operation.execution_date.isoformat(),
        "due_at": _json(operation.due_at),
        "attempt": operation.attempts,
        "status": outcome.status.value,
        "amount": amount(operation.amount),
        "debit_account": masked(operation.debit_account),
        "credit_account": masked(operation.credit_account),
        "error_code": outcome.error_code,
        "reason": outcome.reason,
        "recommended_action": outcome.recommended_action,
        "retry_at": _json(outcome.retry_at),
        "gateway_reference": outcome.gateway_reference,
    }
    return Event(
        event_id=uuid.uuid5(operation.id, f"{event_type.value}/{operation.attempts}"),
        type=event_type,
        schedule_id=operation.schedule_id,
        customer_id=operation.customer_id,
        occurred_at=outcome.finished_at,
        data=data,
        traceparent=outcome.traceparent,
    )


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
