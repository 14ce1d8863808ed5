"""The SQL outbox on an SQLite file: events round-trip, come out oldest first, and
disappear from the unpublished list once marked."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import outbox, statements, tables
from scheduler.domain.events import Event, EventType

PUBLISHED_AT = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
_sequence = itertools.count(1)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sql_engine.create_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    tables.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_event() -> Callable[..., Event]:
    def make(**overrides: Any) -> Event:
        number = next(_sequence)
        fields: dict[str, Any] = {
            "event_id": uuid.uuid4(),
            "type": EventType.EXECUTION_SUCCEEDED,
            "schedule_id": uuid.uuid4(),
            "customer_id": f"customer-{number}",
            "occurred_at": datetime(2027, 1, 29, 9, 0, tzinfo=UTC) + timedelta(seconds=number),
            "data": {"attempt": 1, "amount": {"value": "1250.00", "currency": "GBP"}},
        }
        fields.update(overrides)
        return Event(**fields)

    return make


def _add(engine: sa.Engine, events: list[Event]) -> None:
    with engine.begin() as connection:
        outbox.SqlOutboxRepository(connection).add(events)


def _unpublished(engine: sa.Engine, limit: int = 100) -> list[Any]:
    with engine.begin() as connection:
        return outbox.SqlOutboxRepository(connection).unpublished(limit)


def _mark(engine: sa.Engine, outbox_ids: list[int], at: datetime = PUBLISHED_AT) -> None:
    with engine.begin() as connection:
        outbox.SqlOutboxRepository(connection).mark_published(outbox_ids, at)


def test_stored_event_comes_back_equal_to_the_event_added(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    event = make_event(
        type=EventType.OPERATION_DEAD,
        customer_id="kund-Åsa",
        occurred_at=datetime(2027, 3, 28, 3, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin")),
        data={
            "amount": {"value": "0.10", "currency": "EUR"},
            "reason": None,
            "attempt": 3,
            "ratio": 0.5,
            "flags": [True, False],
            "note": "zahlung für März",
        },
    )

    _add(engine, [event])
    (stored,) = _unpublished(engine)

    assert stored.event == event
    assert stored.event.occurred_at.tzinfo is UTC
    assert stored.event.occurred_at == datetime(2027, 3, 28, 1, 30, 15, 123456, tzinfo=UTC)
    assert stored.event.data["amount"] == {"value": "0.10", "currency": "EUR"}
    assert isinstance(stored.event.type, EventType)
    assert isinstance(stored.outbox_id, int)


def test_payload_is_versioned_json_with_the_fields_columns_do_not_hold(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    event = make_event(customer_id="customer-x", data={"attempt": 2})

    _add(engine, [event])
    with engine.connect() as connection:
        row = connection.execute(sa.select(tables.outbox)).one()

    assert row.payload == {"schema_version": 1, "customer_id": "customer-x", "data": {"attempt": 2}}
    assert row.event_id == event.event_id
    assert row.event_type == "com.tsched.execution.succeeded.v1"
    assert row.schedule_id == event.schedule_id
    assert row.published_at is None


def test_unpublished_events_come_oldest_first_across_transactions(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    first = [make_event() for _ in range(3)]
    second = [make_event() for _ in range(2)]

    _add(engine, first)
    _add(engine, second)
    stored = _unpublished(engine)

    assert [item.event for item in stored] == first + second
    assert [item.outbox_id for item in stored] == sorted(item.outbox_id for item in stored)


def test_unpublished_returns_at_most_limit_oldest_events(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    events = [make_event() for _ in range(5)]
    _add(engine, events)

    assert [item.event for item in _unpublished(engine, limit=2)] == events[:2]


def test_unpublished_refuses_a_limit_below_one(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="limit"):
        _unpublished(engine, limit=0)


def test_marked_events_are_no_longer_unpublished(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    events = [make_event() for _ in range(4)]
    _add(engine, events)
    stored = _unpublished(engine)

    _mark(engine, [stored[0].outbox_id, stored[2].outbox_id])

    assert [item.event for item in _unpublished(engine)] == [events[1], events[3]]
    with engine.connect() as connection:
        published = dict(
            connection.execute(sa.select(tables.outbox.c.id, tables.outbox.c.published_at)).all()
        )
    assert published == {
        stored[0].outbox_id: PUBLISHED_AT,
        stored[1].outbox_id: None,
        stored[2].outbox_id: PUBLISHED_AT,
        stored[3].outbox_id: None,
    }


def test_marking_again_keeps_the_first_publish_time(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    _add(engine, [make_event()])
    (stored,) = _unpublished(engine)

    _mark(engine, [stored.outbox_id], PUBLISHED_AT)
    _mark(engine, [stored.outbox_id], PUBLISHED_AT + timedelta(minutes=5))

    with engine.connect() as connection:
        published_at = connection.execute(sa.select(tables.outbox.c.published_at)).scalar_one()
    assert published_at == PUBLISHED_AT


def test_marking_more_ids_than_one_statement_takes_marks_them_all(
    engine: sa.Engine, make_event: Callable[..., Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements, "MAX_IN_LIST", 2)
    _add(engine, [make_event() for _ in range(5)])
    stored = _unpublished(engine)

    _mark(engine, [item.outbox_id for item in stored])

    assert _unpublished(engine) == []


def test_adding_or_marking_nothing_changes_nothing(engine: sa.Engine) -> None:
    _add(engine, [])
    _mark(engine, [])

    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(tables.outbox)).scalar()
    assert count == 0


def test_an_event_id_is_stored_once(engine: sa.Engine, make_event: Callable[..., Event]) -> None:
    event = make_event()
    _add(engine, [event])

    with pytest.raises(sa.exc.IntegrityError):
        _add(engine, [event])


def test_unpublished_query_uses_the_partial_index(engine: sa.Engine) -> None:
    statement = outbox.select_unpublished(10).compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}").all()

    details = " ".join(row[-1] for row in plan)
    assert "USING INDEX ix_outbox_unpublished" in details
    assert "TEMP B-TREE" not in details


def _claim(
    engine: sa.Engine, relay: str, *, limit: int = 100, now: datetime = PUBLISHED_AT
) -> list[int]:
    with engine.begin() as connection:
        claimed = outbox.SqlOutboxRepository(connection).claim(
            limit=limit, relay=relay, now=now, until=now + timedelta(seconds=60)
        )
    return [stored.outbox_id for stored in claimed]


def test_a_claim_takes_the_oldest_unpublished_events_and_returns_them_whole(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    events = [make_event() for _ in range(3)]
    _add(engine, events)
    _mark(engine, [1])

    with engine.begin() as connection:
        claimed = outbox.SqlOutboxRepository(connection).claim(
            limit=10, relay="relay-a", now=PUBLISHED_AT, until=PUBLISHED_AT + timedelta(seconds=60)
        )

    assert [stored.event for stored in claimed] == events[1:]
    assert [stored.outbox_id for stored in claimed] == [2, 3]


def test_another_relay_skips_what_one_holds_until_its_hold_ends(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    _add(engine, [make_event() for _ in range(5)])

    first = _claim(engine, "relay-a", limit=3)
    second = _claim(engine, "relay-b")
    after_the_hold = _claim(engine, "relay-b", now=PUBLISHED_AT + timedelta(seconds=60))

    assert first == [1, 2, 3]
    assert second == [4, 5]
    assert after_the_hold == [1, 2, 3, 4, 5]


def test_a_relay_claims_its_own_held_events_again(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    _add(engine, [make_event() for _ in range(2)])

    assert _claim(engine, "relay-a") == [1, 2]
    assert _claim(engine, "relay-a") == [1, 2]


def test_released_events_are_free_for_any_relay_and_published_ones_for_none(
    engine: sa.Engine, make_event: Callable[..., Event]
) -> None:
    _add(engine, [make_event() for _ in range(3)])
    assert _claim(engine, "relay-a") == [1, 2, 3]

    with engine.begin() as connection:
        repository = outbox.SqlOutboxRepository(connection)
        repository.mark_published([1], PUBLISHED_AT)
        repository.release([2, 3], "relay-a")
        # Another relay's release does not end relay-a's hold (there is none left here).
        repository.release([2, 3], "relay-b")

    assert _claim(engine, "relay-b") == [2, 3]


def test_a_claim_refuses_a_limit_below_one(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _claim(engine, "relay-a", limit=0)


def test_the_dead_unqueued_predicate_names_the_dead_operation_event_type() -> None:
    # tables.DEAD_UNQUEUED (and migration 0005) spell the type out, as SQL must.
    assert f"event_type = '{EventType.OPERATION_DEAD.value}' AND queued_at IS NULL" == (
        tables.DEAD_UNQUEUED
    )
