"""Every failure class, missed-run policy and operation state transition of the dispatch
engine (DESIGN.md §3 "Failures", "Missed runs", "Exactly once in effect"), run through
create_schedule -> claim_due -> execute_claimed on the embedded SQLite store, with a
payment gateway that answers what each test scripts."""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import migrate, tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.events import EventType
from scheduler.domain.operation import Operation, OperationKind, OperationStatus, can_transition
from scheduler.domain.retry import DEFAULT_ACTION, RECOMMENDED_ACTIONS, RetryPolicy
from scheduler.domain.schedule import ScheduleStatus
from scheduler.ports import TransferOutcome, TransferRequest, TransferResult
from scheduler.service.claim_due import claim_due
from scheduler.service.execute_claimed import (
    Dispatch,
    ExecutionReport,
    TransactionMode,
    execute_claimed,
)
from tests.support import schedules
from tests.support.clock import SettableClock

Status = OperationStatus

#: The first execution: Friday 29 January 2027, 09:00 in London (GMT, so 09:00 UTC).
DUE = datetime(2027, 1, 29, 9, 0, tzinfo=UTC)
#: Its day-before reminder.
REMINDER_DUE = DUE - timedelta(days=1)
LEASE = timedelta(seconds=60)
TICK = timedelta(microseconds=1)
WORKER = "worker-1"
POLICY = RetryPolicy()

BOOKED = TransferResult(outcome=TransferOutcome.BOOKED, reference="BOOK-1")
UNAVAILABLE = TransferResult(outcome=TransferOutcome.UNAVAILABLE, reason="gateway timed out")
INSUFFICIENT = TransferResult(
    outcome=TransferOutcome.DECLINED_RETRYABLE,
    code="insufficient_funds",
    reason="available balance is below the amount",
)
CLOSED = TransferResult(
    outcome=TransferOutcome.REJECTED, code="account_closed", reason="credit account closed"
)


def _utc(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def _seeded(seed: int) -> random.Random:
    # Jitter needs a reproducible generator, not a cryptographic one.
    return random.Random(seed)  # noqa: S311


class ScriptedGateway:
    """A `PaymentGateway` answering each request with the next scripted result, and
    keeping every request it was sent. Asked for more than was scripted, it fails the test."""

    def __init__(self, *script: TransferResult) -> None:
        self.script = deque(script)
        self.calls: list[list[TransferRequest]] = []

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        self.calls.append(list(requests))
        assert len(requests) <= len(self.script), "the gateway was called more than scripted"
        return [self.script.popleft() for _ in requests]

    @property
    def keys(self) -> list[str]:
        """The idempotency keys sent, in order."""
        return [request.idempotency_key for call in self.calls for request in call]


class BrokenGateway:
    """A gateway that breaks the port's contract by raising (a bug, or the worker dying
    mid-call)."""

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        raise ConnectionError("connection reset")


def _document(**overrides: object) -> dict[str, object]:
    """Monthly on the 29th from Fri 29 Jan 2027 at 09:00 London, three times, on the
    English calendar, no reminders unless overridden."""
    document: dict[str, object] = {
        "kind": "recurring_payment",
        "debit_account": "GB-DEBIT-1",
        "credit_account": "GB-CREDIT-1",
        "amount": {"value": "1250.00", "currency": "GBP"},
        "start_date": "2027-01-29",
        "time_of_day": "09:00",
        "time_zone": "Europe/London",
        "recurrence": {"frequency": "monthly", "day_of_month": 29, "count": 3},
        "business_days": {"calendar": "GB-ENG", "convention": "modified_following"},
        "reminders": [],
    }
    return document | overrides


@dataclass
class Bank:
    """The store and the clock, with one small method per step a test takes."""

    engine: sa.Engine
    clock: SettableClock

    def create(self, **overrides: object) -> uuid.UUID:
        return schedules.create(self.engine, self.clock, _document(**overrides))

    def set_status(self, schedule_id: uuid.UUID, status: ScheduleStatus, version: int) -> None:
        with SqlUnitOfWork(self.engine) as uow:
            assert uow.schedules.update_status(
                schedule_id, status, expected_version=version, at=self.clock.now()
            )
            uow.commit()

    def claim(self, worker: str = WORKER) -> list[Operation]:
        return claim_due(
            uow=SqlUnitOfWork(self.engine), clock=self.clock, worker=worker, limit=100, lease=LEASE
        )

    def execute(
        self,
        claimed: Sequence[Operation],
        gateway: ScriptedGateway | BrokenGateway,
        *,
        worker: str = WORKER,
        retry: RetryPolicy = POLICY,
        rng: random.Random | None = None,
        mode: TransactionMode = TransactionMode.BATCH,
    ) -> ExecutionReport:
        dispatch = Dispatch(
            uow_factory=lambda: SqlUnitOfWork(self.engine),
            gateway=gateway,
            clock=self.clock,
            worker=worker,
            retry=retry,
            rng=rng or _seeded(0),
            mode=mode,
        )
        return execute_claimed(claimed, dispatch)

    def advance(self, by: timedelta) -> None:
        self.clock.advance_to(self.clock.now() + by)

    def _rows(self, statement: sa.Select[Any]) -> list[sa.Row[Any]]:
        with self.engine.connect() as connection:
            return list(connection.execute(statement).all())

    def operation(self, operation_id: uuid.UUID) -> sa.Row[Any]:
        [row] = self._rows(sa.select(tables.operation).where(tables.operation.c.id == operation_id))
        return row

    def executions(self, schedule_id: uuid.UUID) -> list[tuple[int, str]]:
        """(occurrence index, status) of the schedule's executions."""
        t = tables.operation
        rows = self._rows(
            sa.select(t.c.occurrence_index, t.c.status)
            .where(t.c.schedule_id == schedule_id, t.c.kind == OperationKind.EXECUTION.value)
            .order_by(t.c.occurrence_index)
        )
        return [(row.occurrence_index, row.status) for row in rows]

    def history(self, operation_id: uuid.UUID) -> list[sa.Row[Any]]:
        t = tables.execution_attempt
        return self._rows(sa.select(t).where(t.c.operation_id == operation_id).order_by(t.c.id))

    def audit(self, operation_id: uuid.UUID) -> list[sa.Row[Any]]:
        t = tables.audit_record
        return self._rows(
            sa.select(t)
            .where(t.c.subject_type == "operation", t.c.subject_id == str(operation_id))
            .order_by(t.c.seq)
        )

    def events(self, operation_id: uuid.UUID) -> list[sa.Row[Any]]:
        rows = self._rows(sa.select(tables.outbox).order_by(tables.outbox.c.id))
        return [row for row in rows if row.payload["data"].get("operation_id") == str(operation_id)]


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    engine = create_engine(f"sqlite:///{tmp_path / 'tsched.sqlite3'}")
    migrate.upgrade(engine)
    return Bank(engine=engine, clock=SettableClock(datetime(2027, 1, 1, 12, 0, tzinfo=UTC)))


def _history(bank: Bank, operation_id: uuid.UUID) -> list[tuple[int, str, str | None]]:
    """(attempt, outcome, error code) of each attempt at an operation."""
    return [(row.attempt, row.outcome, row.error_code) for row in bank.history(operation_id)]


def _never_claimed_again(bank: Bank, operation_id: uuid.UUID) -> bool:
    bank.clock.advance_to(DUE + timedelta(days=400))
    return operation_id not in {operation.id for operation in bank.claim(worker="sweeper")}


# --- success, and the idempotency key -----------------------------------------------


def test_a_booked_transfer_succeeds_sending_the_operation_id_as_idempotency_key(
    bank: Bank,
) -> None:
    schedule_id = bank.create()
    bank.clock.advance_to(DUE)
    [operation] = bank.claim()
    assert (operation.status, operation.attempts, operation.lease_owner) == (
        Status.CLAIMED,
        1,
        WORKER,
    )
    assert operation.lease_expires_at == DUE + LEASE
    gateway = ScriptedGateway(BOOKED)

    report = bank.execute([operation], gateway)

    assert report == ExecutionReport(recorded={Status.SUCCEEDED: 1}, lost_leases=0, errors=0)
    [[request]] = gateway.calls
    assert request.idempotency_key == str(operation.id)
    assert (request.debit_account, request.credit_account) == ("GB-DEBIT-1", "GB-CREDIT-1")
    assert request.amount == operation.amount
    row = bank.operation(operation.id)
    assert (row.status, row.lease_owner, row.lease_expires_at, row.last_error_code) == (
        "succeeded",
        None,
        None,
        None,
    )
    [attempt] = bank.history(operation.id)
    assert (attempt.gateway_reference, attempt.recommended_action) == ("BOOK-1", None)
    assert bank.executions(schedule_id) == [(0, "succeeded"), (1, "pending")]


# --- transient failures: capped exponential backoff, then DEAD --------------------------


@pytest.mark.parametrize("mode", list(TransactionMode))
def test_a_transient_failure_waits_out_its_backoff_then_retries_with_the_same_key(
    bank: Bank, mode: TransactionMode
) -> None:
    schedule_id = bank.create()
    bank.clock.advance_to(DUE)
    gateway = ScriptedGateway(UNAVAILABLE, BOOKED)
    [operation] = bank.claim()

    report = bank.execute([operation], gateway, rng=_seeded(3), mode=mode)

    assert report.recorded == {Status.RETRY_WAIT: 1}
    retry_at = DUE + POLICY.transient_delay(1, _seeded(3))
    assert DUE + POLICY.floor <= retry_at <= DUE + POLICY.base
    row = bank.operation(operation.id)
    assert (row.status, row.available_at, row.attempts, row.lease_owner) == (
        "retry_wait",
        retry_at,
        1,
        None,
    )
    assert (row.last_error_code, row.last_error_reason) == (
        "gateway_unavailable",
        "gateway timed out",
    )
    [event] = bank.events(operation.id)
    assert event.event_type == EventType.EXECUTION_RETRY_SCHEDULED
    assert event.payload["data"]["retry_at"] == retry_at.isoformat()
    assert event.payload["data"]["recommended_action"] is None

    bank.clock.advance_to(retry_at - TICK)
    assert bank.claim() == []
    bank.clock.advance_to(retry_at)
    [again] = bank.claim()
    assert (again.id, again.attempts, again.status) == (operation.id, 2, Status.CLAIMED)
    report = bank.execute([again], gateway, mode=mode)

    assert report.recorded == {Status.SUCCEEDED: 1}
    assert gateway.keys == [str(operation.id), str(operation.id)]
    assert _history(bank, operation.id) == [
        (1, "retry_wait", "gateway_unavailable"),
        (2, "succeeded", None),
    ]
    # The next occurrence was materialised by the first outcome, and only once.
    assert bank.executions(schedule_id) == [(0, "succeeded"), (1, "pending")]


@pytest.mark.parametrize("max_attempts", [1, 3, 8])
def test_transient_failures_up_to_the_attempt_limit_make_the_operation_dead_for_staff(
    bank: Bank, max_attempts: int
) -> None:
    policy = RetryPolicy(max_transient_attempts=max_attempts)
    bank.create()
    bank.clock.advance_to(DUE)
    gateway = ScriptedGateway(*[UNAVAILABLE] * max_attempts)
    for attempt in range(1, max_attempts + 1):
        [operation] = bank.claim()
        assert operation.attempts == attempt
        finished = bank.clock.now()
        report = bank.execute([operation], gateway, retry=policy, rng=_seeded(attempt))
        row = bank.operation(operation.id)
        if attempt < max_attempts:
            assert report.recorded == {Status.RETRY_WAIT: 1}
            ceiling = min(policy.cap, policy.base * 2 ** (attempt - 1))
            assert finished + policy.floor <= row.available_at <= finished + ceiling
            # The delay grows with the attempt: exactly the policy's draw for attempt n.
            delay = policy.transient_delay(attempt, _seeded(attempt))
            assert row.available_at == finished + delay
            bank.clock.advance_to(row.available_at)

    assert report.recorded == {Status.DEAD: 1}
    assert (row.status, row.last_error_code) == ("dead", "gateway_unavailable")
    assert gateway.keys == [str(operation.id)] * max_attempts
    waits = [(n, "retry_wait", "gateway_unavailable") for n in range(1, max_attempts)]
    assert _history(bank, operation.id) == [*waits, (max_attempts, "dead", "gateway_unavailable")]
    advice = RECOMMENDED_ACTIONS["gateway_unavailable"]
    assert bank.history(operation.id)[-1].recommended_action == advice
    events = bank.events(operation.id)
    assert [event.event_type for event in events] == [
        *[EventType.EXECUTION_RETRY_SCHEDULED] * (max_attempts - 1),
        EventType.OPERATION_DEAD,
    ]
    dead = events[-1].payload["data"]
    assert (dead["status"], dead["error_code"], dead["recommended_action"]) == (
        "dead",
        "gateway_unavailable",
        advice,
    )
    assert [record.action for record in bank.audit(operation.id)][-1] == "operation.dead"
    assert _never_claimed_again(bank, operation.id)


def test_a_gateway_that_raises_records_nothing_and_the_next_worker_retries_with_the_same_key(
    bank: Bank,
) -> None:
    bank.create()
    bank.clock.advance_to(DUE)
    [operation] = bank.claim()

    with pytest.raises(ConnectionError):
        bank.execute([operation], BrokenGateway())

    row = bank.operation(operation.id)
    assert (row.status, row.lease_owner, row.attempts) == ("claimed", WORKER, 1)
    assert bank.history(operation.id) == bank.events(operation.id) == []
    bank.clock.advance_to(DUE + LEASE)
    [again] = bank.claim(worker="worker-2")
    assert (again.id, again.attempts) == (operation.id, 2)
    gateway = ScriptedGateway(BOOKED)
    assert bank.execute([again], gateway, worker="worker-2").recorded == {Status.SUCCEEDED: 1}
    assert gateway.keys == [str(operation.id)]


# --- business failures: insufficient funds waits for business mornings, then FAILED ---


def test_insufficient_funds_retries_each_next_business_morning_then_fails_with_advice(
    bank: Bank,
) -> None:
    schedule_id = bank.create()
    bank.clock.advance_to(DUE)
    gateway = ScriptedGateway(INSUFFICIENT, INSUFFICIENT, INSUFFICIENT)
    [operation] = bank.claim()
    assert bank.execute([operation], gateway).recorded == {Status.RETRY_WAIT: 1}
    # Friday's decline waits over the weekend for Monday 1 Feb, 08:00 GMT.
    monday = datetime(2027, 2, 1, 8, 0, tzinfo=UTC)
    assert bank.operation(operation.id).available_at == monday

    bank.clock.advance_to(monday - TICK)
    assert bank.claim() == []
    bank.clock.advance_to(monday)
    # Three days after its due time, a retry is not a missed run: it goes to the gateway.
    [second] = bank.claim()
    assert second.attempts == 2
    assert bank.execute([second], gateway).recorded == {Status.RETRY_WAIT: 1}
    tuesday = datetime(2027, 2, 2, 8, 0, tzinfo=UTC)
    assert bank.operation(operation.id).available_at == tuesday

    bank.clock.advance_to(tuesday)
    [third] = bank.claim()
    assert bank.execute([third], gateway).recorded == {Status.FAILED: 1}

    row = bank.operation(operation.id)
    assert (row.status, row.last_error_code, row.last_error_reason) == (
        "failed",
        "insufficient_funds",
        INSUFFICIENT.reason,
    )
    assert gateway.keys == [str(operation.id)] * 3
    assert _history(bank, operation.id) == [
        (1, "retry_wait", "insufficient_funds"),
        (2, "retry_wait", "insufficient_funds"),
        (3, "failed", "insufficient_funds"),
    ]
    advice = RECOMMENDED_ACTIONS["insufficient_funds"]
    assert [row.recommended_action for row in bank.history(operation.id)] == [None, None, advice]
    events = bank.events(operation.id)
    assert [event.event_type for event in events] == [
        EventType.EXECUTION_RETRY_SCHEDULED,
        EventType.EXECUTION_RETRY_SCHEDULED,
        EventType.EXECUTION_FAILED,
    ]
    assert [event.payload["data"]["retry_at"] for event in events] == [
        monday.isoformat(),
        tuesday.isoformat(),
        None,
    ]
    failed = events[-1].payload["data"]
    assert (failed["reason"], failed["recommended_action"]) == (INSUFFICIENT.reason, advice)
    assert bank.executions(schedule_id) == [(0, "failed"), (1, "pending")]
    assert _never_claimed_again(bank, operation.id)


@pytest.mark.parametrize(
    ("calendar", "zone", "due", "retry_at"),
    [
        # Thu 25 Mar 2027: Good Friday, the weekend (clocks go forward) and Easter Monday
        # pass; Tuesday 30 Mar 08:00 BST.
        ("GB-ENG", "Europe/London", _utc(2027, 3, 25, 9), _utc(2027, 3, 30, 7)),
        # Weekends only: Good Friday is a business day, still GMT.
        (None, "Europe/London", _utc(2027, 3, 25, 9), _utc(2027, 3, 26, 8)),
        # New York works on Good Friday; 08:00 EDT.
        ("US-NY", "America/New_York", _utc(2027, 3, 25, 13), _utc(2027, 3, 26, 12)),
    ],
    ids=["english-easter", "weekends-only", "new-york"],
)
def test_an_insufficient_funds_retry_follows_the_schedules_calendar_and_zone(
    bank: Bank, calendar: str | None, zone: str, due: datetime, retry_at: datetime
) -> None:
    bank.create(
        start_date="2027-03-25",
        time_zone=zone,
        recurrence={"frequency": "monthly", "day_of_month": 25, "count": 3},
        business_days={"calendar": calendar, "convention": "following"},
    )
    bank.clock.advance_to(due)
    [operation] = bank.claim()
    assert operation.due_at == due

    bank.execute([operation], ScriptedGateway(INSUFFICIENT))

    assert bank.operation(operation.id).available_at == retry_at


def test_gateway_timeouts_do_not_use_up_the_insufficient_funds_retries(bank: Bank) -> None:
    bank.create()
    bank.clock.advance_to(DUE)
    gateway = ScriptedGateway(UNAVAILABLE, UNAVAILABLE, INSUFFICIENT)
    for _ in range(2):
        [operation] = bank.claim()
        bank.execute([operation], gateway)
        bank.clock.advance_to(bank.operation(operation.id).available_at)
    [operation] = bank.claim()
    assert operation.attempts == 3

    report = bank.execute([operation], gateway)

    assert report.recorded == {Status.RETRY_WAIT: 1}, (
        "the first insufficient-funds decline failed the payment outright, with no "
        "business-morning retry"
    )


# --- terminal failures: FAILED at once ------------------------------------------------


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("account_closed", RECOMMENDED_ACTIONS["account_closed"]),
        ("unknown_account", RECOMMENDED_ACTIONS["unknown_account"]),
        ("currency_mismatch", RECOMMENDED_ACTIONS["currency_mismatch"]),
        ("sanctions_hit", DEFAULT_ACTION),
        (None, DEFAULT_ACTION),
    ],
)
def test_a_rejected_transfer_fails_at_once_after_a_single_gateway_call(
    bank: Bank, code: str | None, advice: str
) -> None:
    schedule_id = bank.create()
    bank.clock.advance_to(DUE)
    rejected = TransferResult(outcome=TransferOutcome.REJECTED, code=code, reason="refused")
    gateway = ScriptedGateway(rejected)
    [operation] = bank.claim()

    report = bank.execute([operation], gateway)

    assert report.recorded == {Status.FAILED: 1}
    assert len(gateway.calls) == 1
    row = bank.operation(operation.id)
    assert (row.status, row.last_error_code, row.last_error_reason) == ("failed", code, "refused")
    [attempt] = bank.history(operation.id)
    assert (attempt.outcome, attempt.error_code, attempt.recommended_action) == (
        "failed",
        code,
        advice,
    )
    [event] = bank.events(operation.id)
    assert event.event_type == EventType.EXECUTION_FAILED
    assert event.payload["data"]["recommended_action"] == advice
    assert bank.executions(schedule_id) == [(0, "failed"), (1, "pending")]
    assert _never_claimed_again(bank, operation.id)


def test_one_gateway_call_carries_every_claimed_transfer_and_each_gets_its_own_outcome(
    bank: Bank,
) -> None:
    for minute, account in enumerate(["GB-DEBIT-A", "GB-DEBIT-B", "GB-DEBIT-C"]):
        bank.create(debit_account=account, time_of_day=f"09:0{minute}")
    bank.clock.advance_to(DUE + timedelta(minutes=2))
    claimed = bank.claim()
    gateway = ScriptedGateway(BOOKED, UNAVAILABLE, CLOSED)

    report = bank.execute(claimed, gateway)

    assert report.recorded == {Status.SUCCEEDED: 1, Status.RETRY_WAIT: 1, Status.FAILED: 1}
    [call] = gateway.calls
    assert [request.debit_account for request in call] == ["GB-DEBIT-A", "GB-DEBIT-B", "GB-DEBIT-C"]
    assert [request.idempotency_key for request in call] == [str(op.id) for op in claimed]
    assert [bank.operation(op.id).status for op in claimed] == ["succeeded", "retry_wait", "failed"]


# --- leases: a worker that lost its lease records nothing --------------------------------


@pytest.mark.parametrize("mode", list(TransactionMode))
def test_a_worker_that_lost_its_lease_records_nothing_and_the_new_owner_records_once(
    bank: Bank, mode: TransactionMode
) -> None:
    schedule_id = bank.create()
    bank.clock.advance_to(DUE)
    [stale] = bank.claim(worker="worker-1")
    bank.clock.advance_to(DUE + LEASE + timedelta(seconds=1))
    [taken] = bank.claim(worker="worker-2")
    assert (taken.id, taken.attempts, taken.lease_owner) == (stale.id, 2, "worker-2")
    # An idempotent gateway answers the repeated key with the first booking.
    gateway = ScriptedGateway(BOOKED, BOOKED)

    report = bank.execute([stale], gateway, worker="worker-1", mode=mode)

    assert report == ExecutionReport(recorded={}, lost_leases=1, errors=0)
    row = bank.operation(stale.id)
    assert (row.status, row.lease_owner, row.attempts) == ("claimed", "worker-2", 2)
    assert bank.history(stale.id) == bank.audit(stale.id) == bank.events(stale.id) == []
    assert bank.executions(schedule_id) == [(0, "claimed")]

    report = bank.execute([taken], gateway, worker="worker-2", mode=mode)

    assert report == ExecutionReport(recorded={Status.SUCCEEDED: 1}, lost_leases=0, errors=0)
    assert gateway.keys == [str(stale.id), str(stale.id)]
    [attempt] = bank.history(stale.id)
    assert (attempt.attempt, attempt.worker, attempt.outcome) == (2, "worker-2", "succeeded")
    [record] = bank.audit(stale.id)
    assert record.actor == "worker:worker-2"
    assert len(bank.events(stale.id)) == 1
    assert bank.executions(schedule_id) == [(0, "succeeded"), (1, "pending")]


def test_a_late_worker_cannot_overwrite_the_outcome_the_new_owner_recorded(bank: Bank) -> None:
    bank.create()
    bank.clock.advance_to(DUE)
    [stale] = bank.claim(worker="worker-1")
    bank.clock.advance_to(DUE + LEASE)
    [taken] = bank.claim(worker="worker-2")
    assert bank.execute([taken], ScriptedGateway(BOOKED), worker="worker-2").recorded == {
        Status.SUCCEEDED: 1
    }

    report = bank.execute([stale], ScriptedGateway(UNAVAILABLE), worker="worker-1")

    assert report == ExecutionReport(recorded={}, lost_leases=1, errors=0)
    assert bank.operation(stale.id).status == "succeeded"
    assert _history(bank, stale.id) == [(2, "succeeded", None)]
    assert len(bank.events(stale.id)) == len(bank.audit(stale.id)) == 1


def test_a_worker_whose_expired_lease_nobody_took_over_still_records(bank: Bank) -> None:
    bank.create()
    bank.clock.advance_to(DUE)
    [operation] = bank.claim()
    bank.clock.advance_to(DUE + 10 * LEASE)

    report = bank.execute([operation], ScriptedGateway(BOOKED))

    assert report == ExecutionReport(recorded={Status.SUCCEEDED: 1}, lost_leases=0, errors=0)


def test_a_restarted_worker_with_the_same_name_cannot_record_its_earlier_claim(
    bank: Bank,
) -> None:
    bank.create()
    bank.clock.advance_to(DUE)
    [before_restart] = bank.claim()
    bank.clock.advance_to(DUE + LEASE)
    [after_restart] = bank.claim()
    assert (after_restart.lease_owner, after_restart.attempts) == (WORKER, 2)

    report = bank.execute([before_restart], ScriptedGateway(BOOKED))

    assert report == ExecutionReport(recorded={}, lost_leases=1, errors=0)
    assert bank.history(before_restart.id) == []
    assert bank.execute([after_restart], ScriptedGateway(BOOKED)).recorded == {Status.SUCCEEDED: 1}


# --- crash loops: claimed too often without an outcome -------------------------------------


@pytest.mark.parametrize("max_attempts", [1, 3, 8])
def test_an_operation_claimed_too_often_without_an_outcome_goes_dead_without_the_gateway(
    bank: Bank, max_attempts: int
) -> None:
    policy = RetryPolicy(max_transient_attempts=max_attempts)
    bank.create()
    bank.clock.advance_to(DUE)
    for _ in range(max_attempts):  # each worker dies holding the lease
        bank.claim()
        bank.advance(LEASE)
    [operation] = bank.claim()
    assert operation.attempts == max_attempts + 1
    gateway = ScriptedGateway()

    report = bank.execute([operation], gateway, retry=policy)

    assert report.recorded == {Status.DEAD: 1}
    assert gateway.calls == []
    row = bank.operation(operation.id)
    assert (row.status, row.last_error_code, row.last_error_reason) == (
        "dead",
        "attempts_exhausted",
        "claimed too often without an outcome",
    )
    [attempt] = bank.history(operation.id)
    advice = RECOMMENDED_ACTIONS["attempts_exhausted"]
    assert (attempt.attempt, attempt.recommended_action) == (max_attempts + 1, advice)
    [event] = bank.events(operation.id)
    assert event.event_type == EventType.OPERATION_DEAD
    assert event.payload["data"]["recommended_action"] == advice


def test_the_last_allowed_claim_after_crashes_still_asks_the_gateway(bank: Bank) -> None:
    policy = RetryPolicy(max_transient_attempts=3)
    bank.create()
    bank.clock.advance_to(DUE)
    for _ in range(2):
        bank.claim()
        bank.advance(LEASE)
    [operation] = bank.claim()
    assert operation.attempts == 3
    gateway = ScriptedGateway(BOOKED)

    assert bank.execute([operation], gateway, retry=policy).recorded == {Status.SUCCEEDED: 1}
    assert gateway.keys == [str(operation.id)]


# --- missed runs: reminders ---------------------------------------------------------------


@pytest.mark.parametrize(
    "late_by", [timedelta(0), timedelta(minutes=30)], ids=["on-time", "exactly-30min-late"]
)
def test_a_reminder_within_its_grace_succeeds_with_a_reminder_due_event(
    bank: Bank, late_by: timedelta
) -> None:
    schedule_id = bank.create(reminders=["P1D"])
    bank.clock.advance_to(REMINDER_DUE + late_by)
    [reminder] = bank.claim()
    assert (reminder.kind, reminder.due_at) == (OperationKind.REMINDER, REMINDER_DUE)
    gateway = ScriptedGateway()

    report = bank.execute([reminder], gateway)

    assert report.recorded == {Status.SUCCEEDED: 1}
    assert gateway.calls == []
    [event] = bank.events(reminder.id)
    assert event.event_type == EventType.REMINDER_DUE
    assert event.payload["data"]["reminder_offset"] == "P1D"
    [record] = bank.audit(reminder.id)
    assert record.action == "operation.succeeded"
    # A reminder does not move the schedule on: only its execution does.
    assert bank.executions(schedule_id) == [(0, "pending")]


@pytest.mark.parametrize(
    "late_by",
    [timedelta(minutes=30) + TICK, timedelta(hours=2)],
    ids=["30min-plus-1us", "2h-late"],
)
def test_a_reminder_past_its_grace_is_skipped_as_stale(bank: Bank, late_by: timedelta) -> None:
    bank.create(reminders=["P1D"])
    bank.clock.advance_to(REMINDER_DUE + late_by)
    [reminder] = bank.claim()

    report = bank.execute([reminder], ScriptedGateway())

    assert report.recorded == {Status.SKIPPED: 1}
    row = bank.operation(reminder.id)
    assert (row.status, row.last_error_code) == ("skipped", "reminder_stale")
    [attempt] = bank.history(reminder.id)
    assert attempt.recommended_action is None
    [event] = bank.events(reminder.id)
    assert event.event_type == EventType.OPERATION_SKIPPED


# --- missed runs: executions ----------------------------------------------------------------


@pytest.mark.parametrize(
    "late_by",
    [timedelta(hours=4) + TICK, timedelta(hours=12), timedelta(days=3)],
    ids=["4h-plus-1us", "12h-late", "3-days-late"],
)
def test_an_execution_past_the_grace_window_fails_for_review_without_the_gateway(
    bank: Bank, late_by: timedelta
) -> None:
    schedule_id = bank.create()
    bank.clock.advance_to(DUE + late_by)
    [operation] = bank.claim()
    gateway = ScriptedGateway()

    report = bank.execute([operation], gateway)

    assert report.recorded == {Status.FAILED: 1}
    assert gateway.calls == []
    row = bank.operation(operation.id)
    assert (row.status, row.last_error_code) == ("failed", "missed_execution_window")
    [attempt] = bank.history(operation.id)
    assert attempt.recommended_action == RECOMMENDED_ACTIONS["missed_execution_window"]
    [event] = bank.events(operation.id)
    assert event.event_type == EventType.EXECUTION_FAILED
    # The schedule goes on: the next occurrence is there to run on time.
    assert bank.executions(schedule_id) == [(0, "failed"), (1, "pending")]


@pytest.mark.parametrize(
    "late_by",
    [timedelta(minutes=1), timedelta(hours=3, minutes=59), timedelta(hours=4)],
    ids=["1min-late", "3h59-late", "exactly-4h-late"],
)
def test_an_execution_late_but_within_the_grace_window_runs(bank: Bank, late_by: timedelta) -> None:
    bank.create()
    bank.clock.advance_to(DUE + late_by)
    [operation] = bank.claim()
    gateway = ScriptedGateway(BOOKED)

    assert bank.execute([operation], gateway).recorded == {Status.SUCCEEDED: 1}
    assert gateway.keys == [str(operation.id)]


def test_a_retry_found_after_downtime_still_asks_the_gateway_with_the_same_key(
    bank: Bank,
) -> None:
    # The first attempt may have moved the money: only the gateway can say, so a late
    # retry is never failed as a missed run.
    bank.create()
    bank.clock.advance_to(DUE)
    [operation] = bank.claim()
    gateway = ScriptedGateway(UNAVAILABLE, BOOKED)
    bank.execute([operation], gateway)
    bank.clock.advance_to(DUE + timedelta(hours=12))
    [again] = bank.claim()

    assert bank.execute([again], gateway).recorded == {Status.SUCCEEDED: 1}
    assert gateway.keys == [str(operation.id)] * 2


# --- schedule status: paused and cancelled ---------------------------------------------------


def test_an_execution_of_a_paused_schedule_is_skipped_and_its_next_occurrence_materialised(
    bank: Bank,
) -> None:
    schedule_id = bank.create()
    bank.set_status(schedule_id, ScheduleStatus.PAUSED, version=1)
    bank.clock.advance_to(DUE)
    [operation] = bank.claim()
    gateway = ScriptedGateway()

    report = bank.execute([operation], gateway)

    assert report.recorded == {Status.SKIPPED: 1}
    assert gateway.calls == []
    row = bank.operation(operation.id)
    assert (row.status, row.last_error_code) == ("skipped", "schedule_paused")
    [attempt] = bank.history(operation.id)
    assert (attempt.outcome, attempt.recommended_action) == ("skipped", None)
    [event] = bank.events(operation.id)
    assert event.event_type == EventType.OPERATION_SKIPPED
    assert bank.executions(schedule_id) == [(0, "skipped"), (1, "pending")]
    with bank.engine.connect() as connection:
        following = connection.execute(
            sa.select(tables.operation.c.execution_date).where(
                tables.operation.c.schedule_id == schedule_id,
                tables.operation.c.occurrence_index == 1,
            )
        ).scalar_one()
        next_index = connection.execute(
            sa.select(tables.schedule.c.next_index).where(tables.schedule.c.id == schedule_id)
        ).scalar_one()
    assert following == date(2027, 2, 26)  # Sun 28 Feb, modified following -> Fri 26 Feb
    assert next_index == 2


def test_an_execution_claimed_before_its_schedule_was_cancelled_moves_no_money(
    bank: Bank,
) -> None:
    # Regression (fixed in 5a4b0a4): the engine skipped a cancelled schedule's reminders
    # but still sent its executions to the gateway.
    schedule_id = bank.create()
    bank.clock.advance_to(DUE)
    [operation] = bank.claim()
    # The customer cancels between the claim and the transfer; as in
    # change_schedule_status, the claimed operation is in flight, not cancelled.
    with SqlUnitOfWork(bank.engine) as uow:
        assert uow.schedules.update_status(
            schedule_id, ScheduleStatus.CANCELLED, expected_version=1, at=DUE
        )
        assert uow.operations.cancel_open(schedule_id, DUE) == []
        uow.commit()
    gateway = ScriptedGateway(BOOKED)

    report = bank.execute([operation], gateway)

    assert gateway.calls == [], "the transfer went to the gateway after the cancellation"
    assert report.recorded == {Status.SKIPPED: 1}
    row = bank.operation(operation.id)
    assert (row.status, row.last_error_code) == ("skipped", "schedule_cancelled")
    assert bank.executions(schedule_id) == [(0, "skipped")]


# --- every recorded outcome: one history row, one audit record, one event ----------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One way an attempt can end, and what it must record."""

    status: OperationStatus
    event: EventType
    script: tuple[TransferResult, ...] = ()
    reminder: bool = False
    late_by: timedelta = timedelta(0)
    paused: bool = False
    max_transient_attempts: int = 8
    crashed_claims: int = 0


CASES = {
    "booked": Case(status=Status.SUCCEEDED, event=EventType.EXECUTION_SUCCEEDED, script=(BOOKED,)),
    "transient": Case(
        status=Status.RETRY_WAIT, event=EventType.EXECUTION_RETRY_SCHEDULED, script=(UNAVAILABLE,)
    ),
    "insufficient-funds": Case(
        status=Status.RETRY_WAIT, event=EventType.EXECUTION_RETRY_SCHEDULED, script=(INSUFFICIENT,)
    ),
    "rejected": Case(status=Status.FAILED, event=EventType.EXECUTION_FAILED, script=(CLOSED,)),
    "transient-exhausted": Case(
        status=Status.DEAD,
        event=EventType.OPERATION_DEAD,
        script=(UNAVAILABLE,),
        max_transient_attempts=1,
    ),
    "crash-loop": Case(
        status=Status.DEAD,
        event=EventType.OPERATION_DEAD,
        max_transient_attempts=1,
        crashed_claims=1,
    ),
    "missed-window": Case(
        status=Status.FAILED, event=EventType.EXECUTION_FAILED, late_by=timedelta(hours=5)
    ),
    "paused": Case(status=Status.SKIPPED, event=EventType.OPERATION_SKIPPED, paused=True),
    "reminder": Case(status=Status.SUCCEEDED, event=EventType.REMINDER_DUE, reminder=True),
    "stale-reminder": Case(
        status=Status.SKIPPED,
        event=EventType.OPERATION_SKIPPED,
        reminder=True,
        late_by=timedelta(hours=1),
    ),
}


@pytest.mark.parametrize("mode", list(TransactionMode))
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_recorded_outcome_leaves_one_history_row_one_audit_record_and_one_event(
    bank: Bank, case: Case, mode: TransactionMode
) -> None:
    schedule_id = bank.create(reminders=["P1D"] if case.reminder else [])
    if case.paused:
        bank.set_status(schedule_id, ScheduleStatus.PAUSED, version=1)
    bank.clock.advance_to((REMINDER_DUE if case.reminder else DUE) + case.late_by)
    for _ in range(case.crashed_claims):
        bank.claim()
        bank.advance(LEASE)
    [operation] = bank.claim()
    policy = RetryPolicy(max_transient_attempts=case.max_transient_attempts)

    report = bank.execute([operation], ScriptedGateway(*case.script), retry=policy, mode=mode)

    assert report == ExecutionReport(recorded={case.status: 1}, lost_leases=0, errors=0)
    assert can_transition(Status.CLAIMED, case.status)
    assert bank.operation(operation.id).status == case.status.value
    [attempt] = bank.history(operation.id)
    assert (attempt.attempt, attempt.outcome, attempt.worker) == (
        operation.attempts,
        case.status.value,
        WORKER,
    )
    [record] = bank.audit(operation.id)
    assert (record.action, record.actor) == (f"operation.{case.status.value}", f"worker:{WORKER}")
    assert record.details["attempt"] == operation.attempts
    [event] = bank.events(operation.id)
    assert event.event_type == case.event.value
    assert (event.payload["data"]["status"], event.payload["data"]["attempt"]) == (
        case.status.value,
        operation.attempts,
    )
    # Only an operation waiting to retry is ever claimed again.
    assert _never_claimed_again(bank, operation.id) == (case.status is not Status.RETRY_WAIT)
