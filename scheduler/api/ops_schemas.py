"""The JSON shape of the operations figures (`GET /v1/ops/status`), which the operations
page and `tsched status` show. Durations are seconds; no customer is named."""

from __future__ import annotations

from datetime import datetime

from scheduler.api.schemas import Shape
from scheduler.api.staff_schemas import OperationView, what_it_moves
from scheduler.domain.operation import Operation, OperationKind, OperationStatus
from scheduler.ports import MinuteLateness
from scheduler.service.operations_status import OperationsStatus


class DueOut(Shape):
    """Operations that become due in a window, by kind."""

    executions: int
    reminders: int

    @classmethod
    def of(cls, counts: dict[OperationKind, int]) -> DueOut:
        return cls(
            executions=counts.get(OperationKind.EXECUTION, 0),
            reminders=counts.get(OperationKind.REMINDER, 0),
        )


class LatenessOut(Shape):
    """One minute's first attempts at executions: how many started, and how late."""

    minute_start: datetime
    started: int
    max_seconds: float
    mean_seconds: float

    @classmethod
    def of(cls, minute: MinuteLateness) -> LatenessOut:
        return cls(
            minute_start=minute.minute_start,
            started=minute.started,
            max_seconds=round(minute.max_seconds, 3),
            mean_seconds=round(minute.mean_seconds, 3),
        )


class StoppedOut(OperationView):
    """A failed or dead operation and when it stopped; re-driven with
    `POST /v1/operations/{id}/redrive`."""

    stopped_at: datetime

    @classmethod
    def of(cls, operation: Operation, stopped_at: datetime) -> StoppedOut:
        return cls(**what_it_moves(operation), stopped_at=stopped_at)


class OutboxOut(Shape):
    """Events waiting for Kafka (counted up to `counted_up_to`), the oldest one's wait,
    and the relay's state: off, caught_up, publishing or behind."""

    unpublished: int
    counted_up_to: int
    oldest_seconds: float
    relay: str


class OpsStatusOut(Shape):
    """How the platform is doing at `at`."""

    at: datetime
    due_next_hour: DueOut
    due_next_day: DueOut
    waiting: int
    lag_seconds: float
    outcomes_last_hour: dict[str, int]
    lateness_last_hour: list[LatenessOut]
    failed: int
    dead: int
    latest_stopped: list[StoppedOut]
    outbox: OutboxOut
    unsealed_audit_records: int

    @classmethod
    def of(cls, status: OperationsStatus) -> OpsStatusOut:
        """The JSON shape of the figures."""
        backlog = status.outbox_backlog
        return cls(
            at=status.at,
            due_next_hour=DueOut.of(status.due_next_hour),
            due_next_day=DueOut.of(status.due_next_day),
            waiting=status.waiting,
            lag_seconds=status.lag.total_seconds(),
            outcomes_last_hour={
                outcome.value: count for outcome, count in status.outcomes_last_hour.items()
            },
            lateness_last_hour=[LatenessOut.of(minute) for minute in status.lateness_last_hour],
            failed=status.stopped.get(OperationStatus.FAILED, 0),
            dead=status.stopped.get(OperationStatus.DEAD, 0),
            latest_stopped=[StoppedOut.of(op, at) for op, at in status.latest_stopped],
            outbox=OutboxOut(
                unpublished=backlog.unpublished,
                counted_up_to=backlog.counted_up_to,
                oldest_seconds=status.outbox_age.total_seconds(),
                relay=status.relay.value,
            ),
            unsealed_audit_records=status.unsealed_audit_records,
        )
