"""Responses kept under idempotency keys: per customer, until they expire, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.ports import StoredResponse

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CREATED = StoredResponse(request_hash="a" * 64, status_code=201, body='{"id": "s-1"}')


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'idempotency.sqlite3'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _save(engine: sa.Engine, customer: str, key: str, *, at: datetime = NOW) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.idempotency.save(customer, key, CREATED, at=at, until=at + DAY)
        uow.commit()


def _find(engine: sa.Engine, customer: str, key: str, now: datetime) -> StoredResponse | None:
    with SqlUnitOfWork(engine) as uow:
        return uow.idempotency.find(customer, key, now)


def test_a_saved_response_is_found_until_it_expires(engine: sa.Engine) -> None:
    _save(engine, "alice", "key-1")

    assert _find(engine, "alice", "key-1", NOW) == CREATED
    assert _find(engine, "alice", "key-1", NOW + DAY - timedelta(microseconds=1)) == CREATED
    assert _find(engine, "alice", "key-1", NOW + DAY) is None


def test_keys_belong_to_their_customer(engine: sa.Engine) -> None:
    _save(engine, "alice", "key-1")

    assert _find(engine, "bob", "key-1", NOW) is None
    _save(engine, "bob", "key-1")
    assert _find(engine, "bob", "key-1", NOW) == CREATED


def test_a_live_key_cannot_be_saved_twice(engine: sa.Engine) -> None:
    _save(engine, "alice", "key-1")

    with pytest.raises(sa.exc.IntegrityError):
        _save(engine, "alice", "key-1", at=NOW + timedelta(hours=1))


def test_an_expired_key_makes_way_for_a_new_response(engine: sa.Engine) -> None:
    _save(engine, "alice", "key-1")

    _save(engine, "alice", "key-1", at=NOW + DAY)

    assert _find(engine, "alice", "key-1", NOW + DAY) == CREATED


def test_purge_deletes_only_expired_responses_oldest_first(engine: sa.Engine) -> None:
    for hour in range(5):
        _save(engine, "alice", f"key-{hour}", at=NOW + timedelta(hours=hour))

    with SqlUnitOfWork(engine) as uow:
        purged = uow.idempotency.purge_expired(NOW + DAY + timedelta(hours=2), limit=2)
        uow.commit()

    assert purged == 2
    later = NOW + timedelta(hours=4)
    found = [_find(engine, "alice", f"key-{hour}", later) is not None for hour in range(5)]
    assert found == [False, False, True, True, True]


def test_purge_with_nothing_expired_deletes_nothing(engine: sa.Engine) -> None:
    _save(engine, "alice", "key-1")

    with SqlUnitOfWork(engine) as uow:
        assert uow.idempotency.purge_expired(NOW, limit=10) == 0
