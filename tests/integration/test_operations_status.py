"""The operations figures, on SQLite and on real PostgreSQL: what is due in the next
hour and day, how long the oldest due operation has waited, the last hour's outcomes and
lateness per minute, the stopped operations, the outbox backlog and the relay state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.operation import OperationKind, OperationStatus
from scheduler.service.operations_status import (
    OperationsStatus,
    RelayState,
    operations_status,
)
from tests.support.clock import SettableClock
from tests.support.ops_rows import OpsRows
from tests.support.outbox_events import write_reminders
from tests.support.schedules import MORTGAGE, create

pytestmark = pytest.mark.integration

NOW = datetime(2027, 1, 20, 9, 30, tzinfo=UTC)


def _status(engine: sa.Engine, *, relay_enabled: bool = True) -> OperationsStatus:
    return operations_status(
        uow=SqlUnitOfWork(engine), clock=SettableClock(NOW), relay_enabled=relay_enabled
    )


@pytest.fixture
def rows(each_store: sa.Engine) -> OpsRows:
    clock = SettableClock(NOW - timedelta(days=30))
    schedule_id = create(each_store, clock, MORTGAGE, customer_id="customer-1")
    with each_store.begin() as connection:  # only the rows the tests write count
        connection.execute(sa.delete(tables.operation))
        connection.execute(sa.delete(tables.outbox))
    return OpsRows(each_store, schedule_id)


def test_an_empty_store_has_nothing_due_no_lag_and_a_caught_up_relay(
    each_store: sa.Engine, rows: OpsRows
) -> None:
    status = _status(each_store)

    assert (status.waiting, status.lag, status.outbox_backlog.unpublished) == (0, timedelta(0), 0)
    assert status.due_next_hour == {}
    assert status.relay is RelayState.CAUGHT_UP
    assert _status(each_store, relay_enabled=False).relay is RelayState.OFF


def test_due_counts_by_kind_in_the_next_hour_and_day(each_store: sa.Engine, rows: OpsRows) -> None:
    rows.operation("pending", NOW + timedelta(minutes=10))
    rows.operation("retry_wait", NOW + timedelta(minutes=59))
    rows.operation("pending", NOW + timedelta(minutes=30), kind="reminder")
    rows.operation("pending", NOW + timedelta(hours=5))
    rows.operation("pending", NOW + timedelta(days=2))
    rows.operation("claimed", NOW + timedelta(minutes=5))  # a lease, not waiting

    status = _status(each_store)

    assert status.due_next_hour == {OperationKind.EXECUTION: 2, OperationKind.REMINDER: 1}
    assert status.due_next_day == {OperationKind.EXECUTION: 3, OperationKind.REMINDER: 1}


def test_lag_is_the_wait_of_the_oldest_due_operation_an_expired_lease_included(
    each_store: sa.Engine, rows: OpsRows
) -> None:
    rows.operation("pending", NOW - timedelta(seconds=42))
    rows.operation("claimed", NOW - timedelta(seconds=90))  # its lease ended 90 s ago
    rows.operation("claimed", NOW + timedelta(seconds=30))  # held
    rows.operation("pending", NOW + timedelta(seconds=1))

    status = _status(each_store)

    assert (status.waiting, status.lag) == (2, timedelta(seconds=90))


def test_outcomes_and_lateness_of_the_last_hour_per_minute(
    each_store: sa.Engine, rows: OpsRows
) -> None:
    minute = NOW - timedelta(minutes=30)
    rows.attempt(minute, minute + timedelta(seconds=2))
    rows.attempt(minute, minute + timedelta(seconds=6))
    rows.attempt(minute, minute + timedelta(seconds=50), outcome="retry_wait", attempt=2)
    rows.attempt(minute, minute + timedelta(seconds=1), kind="reminder")
    later = NOW - timedelta(minutes=5, seconds=-10)
    rows.attempt(later, later + timedelta(milliseconds=250), outcome="dead")
    rows.attempt(NOW - timedelta(hours=2), NOW - timedelta(hours=2))  # before the hour
    rows.attempt(NOW + timedelta(days=9), NOW + timedelta(days=9))  # a clock ahead wrote it

    status = _status(each_store)

    assert status.outcomes_last_hour == {
        OperationStatus.SUCCEEDED: 3,
        OperationStatus.RETRY_WAIT: 1,
        OperationStatus.DEAD: 1,
    }
    first, second = status.lateness_last_hour
    assert (first.minute_start, first.started) == (NOW - timedelta(minutes=30), 2)
    assert first.max_seconds == pytest.approx(6.0, abs=0.01)
    assert first.mean_seconds == pytest.approx(4.0, abs=0.01)
    assert (second.minute_start, second.started) == (NOW - timedelta(minutes=5), 1)
    assert second.max_seconds == pytest.approx(0.25, abs=0.01)


def test_stopped_operations_are_counted_and_the_latest_listed(
    each_store: sa.Engine, rows: OpsRows
) -> None:
    rows.operation("failed", NOW - timedelta(minutes=9), error=("account_closed", "closed"))
    dead = rows.operation("dead", NOW - timedelta(minutes=1), error=("gateway_down", "5 tries"))

    status = _status(each_store)

    assert status.stopped == {OperationStatus.FAILED: 1, OperationStatus.DEAD: 1}
    (latest, stopped_at), _ = status.latest_stopped
    assert (latest.id, stopped_at) == (dead, NOW - timedelta(minutes=1))


def test_the_outbox_backlog_its_age_and_the_relay_behind_after_a_minute(
    each_store: sa.Engine, rows: OpsRows
) -> None:
    write_reminders(each_store, 3, occurred_at=NOW - timedelta(seconds=20))
    assert _status(each_store).relay is RelayState.PUBLISHING

    with each_store.begin() as connection:
        connection.execute(sa.delete(tables.outbox))
    write_reminders(each_store, 2, occurred_at=NOW - timedelta(minutes=4))
    write_reminders(each_store, 3, occurred_at=NOW - timedelta(seconds=20))
    status = _status(each_store)

    backlog = status.outbox_backlog
    assert (backlog.unpublished, backlog.oldest_at) == (5, NOW - timedelta(minutes=4))
    assert status.relay is RelayState.BEHIND
