"""Use case: how the platform is doing now, for operations staff: what the operations
page, `tsched status` and the metrics show, read in one transaction.

No customer data is in it beyond what operations staff act on: the stopped operations
carry their ids, amounts, masked accounts and reasons, never a customer's name or
reference. So reading it, which a page does every few seconds, is not audited;
re-driving one is (`redrive_operation`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.domain.operation import Operation, OperationKind, OperationStatus
from scheduler.ports import Clock, MinuteLateness, OutboxBacklog, UnitOfWork

#: The window of the outcome counts and of the lateness chart.
RECENT = timedelta(hours=1)
#: An outbox whose oldest unpublished event is older than this is behind: the relay is
#: stopped or the broker is away (the alert on it fires at 5 minutes).
RELAY_BEHIND_AFTER = timedelta(seconds=60)
#: The outbox's backlog is counted up to this many (an index scan), as readiness does.
BACKLOG_COUNTED_UP_TO = 10_000
#: How many of the latest stopped operations are listed.
STOPPED_LISTED = 20


class RelayState(enum.StrEnum):
    """Where the outbox relay stands, from the age of what waits for it."""

    #: No Kafka is configured: events stay in the outbox, readable there.
    OFF = "off"
    #: Nothing waits.
    CAUGHT_UP = "caught_up"
    #: Events wait, none for long.
    PUBLISHING = "publishing"
    #: The oldest event has waited longer than `RELAY_BEHIND_AFTER`.
    BEHIND = "behind"


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationsStatus:
    """The figures at `at`. `lag` is how long the oldest operation due and not held by
    a worker has waited (zero when none waits): the dispatch lag the alert watches;
    `outbox_age` how long the oldest event waiting for Kafka has."""

    at: datetime
    due_next_hour: dict[OperationKind, int]
    due_next_day: dict[OperationKind, int]
    waiting: int
    lag: timedelta
    outcomes_last_hour: dict[OperationStatus, int]
    lateness_last_hour: list[MinuteLateness]
    stopped: dict[OperationStatus, int]
    latest_stopped: list[tuple[Operation, datetime]]
    outbox_backlog: OutboxBacklog
    outbox_age: timedelta
    relay: RelayState
    unsealed_audit_records: int


def operations_status(*, uow: UnitOfWork, clock: Clock, relay_enabled: bool) -> OperationsStatus:
    """The figures now, each read through an index, in one read-only transaction."""
    now = clock.now()
    with uow:
        figures = uow.figures
        waiting, oldest_due = figures.waiting(now)
        backlog = uow.outbox.backlog(BACKLOG_COUNTED_UP_TO)
        outbox_age = _since(backlog.oldest_at, now)
        latest = uow.operations.page_by_status(
            statuses=[OperationStatus.FAILED, OperationStatus.DEAD],
            customer_id=None,
            schedule_id=None,
            after=None,
            limit=STOPPED_LISTED,
        )
        return OperationsStatus(
            at=now,
            due_next_hour=figures.due_between(now, now + timedelta(hours=1)),
            due_next_day=figures.due_between(now, now + timedelta(days=1)),
            waiting=waiting,
            lag=_since(oldest_due, now),
            outcomes_last_hour=figures.outcomes_between(now - RECENT, now),
            lateness_last_hour=figures.lateness_per_minute(now - RECENT, now),
            stopped=figures.stopped_counts(),
            latest_stopped=latest,
            outbox_backlog=backlog,
            outbox_age=outbox_age,
            relay=_relay(relay_enabled, backlog.unpublished, outbox_age),
            unsealed_audit_records=uow.audit.count_unsealed(),
        )


def _since(moment: datetime | None, now: datetime) -> timedelta:
    return max(now - moment, timedelta(0)) if moment is not None else timedelta(0)


def _relay(enabled: bool, backlog: int, oldest_age: timedelta) -> RelayState:
    if not enabled:
        return RelayState.OFF
    if backlog == 0:
        return RelayState.CAUGHT_UP
    return RelayState.BEHIND if oldest_age > RELAY_BEHIND_AFTER else RelayState.PUBLISHING
