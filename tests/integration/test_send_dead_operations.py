"""Dead operations to the `operations-dead` queue, on SQLite and on real PostgreSQL:
each sent once and marked, whatever else the outbox holds and whether or not Kafka has
it; a sender that fails marks nothing, and one that crashes after sending sends the same
messages again (same ids, which the queue's duplicate detection drops)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.service.send_dead_operations import DEAD_OPERATIONS_QUEUE, send_dead_operations
from tests.support.clock import SettableClock
from tests.support.outbox_events import write_dead_operations, write_reminders
from tests.support.service_bus import RecordingQueues

pytestmark = pytest.mark.integration

NOW = datetime(2027, 5, 3, 14, 0, tzinfo=UTC)


@pytest.fixture
def engine(each_store: sa.Engine) -> sa.Engine:
    return each_store


def _send(engine: sa.Engine, queues: RecordingQueues, batch_size: int = 100) -> int:
    return send_dead_operations(
        uow=SqlUnitOfWork(engine),
        queues=queues,
        clock=SettableClock(NOW),
        batch_size=batch_size,
    )


def _queued_at(engine: sa.Engine) -> dict[str, datetime | None]:
    outbox = tables.outbox
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(outbox.c.event_id, outbox.c.queued_at).where(
                outbox.c.event_type == "com.tsched.operation.dead.v1"
            )
        )
        return {str(row.event_id): row.queued_at for row in rows}


def test_each_dead_operation_is_sent_once_with_what_staff_need(engine: sa.Engine) -> None:
    write_reminders(engine, 5, occurred_at=NOW)
    dead = write_dead_operations(engine, 3, occurred_at=NOW)
    queues = RecordingQueues()

    assert _send(engine, queues) == 3
    assert _send(engine, queues) == 0

    sent = queues.sent[DEAD_OPERATIONS_QUEUE]
    assert [message.message_id for message in sent] == [str(event.event_id) for event in dead]
    first, event = sent[0], dead[0]
    operation_id = event.data["operation_id"]
    assert first.subject == "operation.dead"
    assert first.body["redrive"] == f"/v1/operations/{operation_id}/redrive"
    assert first.body["customer_id"] == event.customer_id
    assert first.body["recommended_action"] == "re-drive once the gateway answers"
    assert first.properties == {
        "operation_id": operation_id,
        "schedule_id": str(event.schedule_id),
        "error_code": "gateway_unavailable",
        "recommended_action": "re-drive once the gateway answers",
    }
    assert set(_queued_at(engine).values()) == {NOW}


def test_the_queue_and_kafka_do_not_wait_for_each_other(engine: sa.Engine) -> None:
    dead = write_dead_operations(engine, 2, occurred_at=NOW)
    outbox = tables.outbox
    with engine.begin() as connection:
        connection.execute(sa.update(outbox).values(published_at=NOW))
    queues = RecordingQueues()

    assert _send(engine, queues) == 2
    with engine.connect() as connection:
        unpublished = connection.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    assert unpublished == 0
    assert len(queues.sent[DEAD_OPERATIONS_QUEUE]) == len(dead)


def test_a_failed_send_marks_nothing_and_the_next_round_sends_them(engine: sa.Engine) -> None:
    write_dead_operations(engine, 4, occurred_at=NOW)
    queues = RecordingQueues(failures=1)

    with pytest.raises(ConnectionError):
        _send(engine, queues)

    assert set(_queued_at(engine).values()) == {None}
    assert _send(engine, queues) == 4
    assert len(queues.sent[DEAD_OPERATIONS_QUEUE]) == 4


def test_a_crash_after_the_send_sends_the_same_messages_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dead_operations(engine, 3, occurred_at=NOW)
    queues = RecordingQueues()

    def crash(self: object, outbox_ids: object, at: object) -> None:
        raise SystemExit("killed between the send and the mark")

    with monkeypatch.context() as patched:
        patched.setattr("scheduler.adapters.sql.outbox.SqlOutboxRepository.mark_queued", crash)
        with pytest.raises(SystemExit):
            _send(engine, queues)
    _send(engine, queues)

    first, second = (
        queues.sent[DEAD_OPERATIONS_QUEUE][:3],
        queues.sent[DEAD_OPERATIONS_QUEUE][3:],
    )
    assert [m.message_id for m in first] == [m.message_id for m in second]
    assert first == second
    assert _send(engine, queues) == 0


def test_a_round_sends_at_most_a_batch_oldest_first(engine: sa.Engine) -> None:
    dead = write_dead_operations(engine, 5, occurred_at=NOW)
    queues = RecordingQueues()

    assert [_send(engine, queues, batch_size=2) for _ in range(4)] == [2, 2, 1, 0]
    sent = [message.message_id for message in queues.sent[DEAD_OPERATIONS_QUEUE]]
    assert sent == [str(event.event_id) for event in dead]
