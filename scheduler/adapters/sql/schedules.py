"""Schedules in SQL: the channel's JSON document plus the columns queries filter on."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from scheduler.adapters.sql import statements, tables
from scheduler.domain import definition as definitions
from scheduler.domain.schedule import LIVE_STATUSES, Schedule, ScheduleKind, ScheduleStatus
from scheduler.ports import ScheduleState, StoredSchedule

_t = tables.schedule
_LIVE = sorted(status.value for status in LIVE_STATUSES)


class SqlScheduleRepository:
    """`ScheduleRepository` over one connection (the unit of work's transaction)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def add(self, stored: StoredSchedule, at: datetime) -> None:
        schedule = stored.schedule
        self._connection.execute(
            _t.insert().values(
                id=schedule.id,
                customer_id=schedule.customer_id,
                kind=schedule.kind.value,
                status=schedule.status.value,
                debit_account=schedule.debit_account,
                credit_account=schedule.credit_account,
                channel=stored.channel,
                created_at=schedule.created_at,
                **_terms(stored, at),
            )
        )

    def amend(self, stored: StoredSchedule, *, expected_version: int, at: datetime) -> bool:
        result = self._connection.execute(
            _t.update()
            .where(_t.c.id == stored.schedule.id, _t.c.version == expected_version)
            .values(**_terms(stored, at))
        )
        return _exactly_one(result.rowcount)

    def get_many(self, schedule_ids: Sequence[UUID]) -> dict[UUID, StoredSchedule]:
        found: dict[UUID, StoredSchedule] = {}
        for chunk in statements.in_list_chunks(sorted(set(schedule_ids))):
            rows = self._connection.execute(_select_stored().where(_t.c.id.in_(chunk)))
            found.update(_stored(row) for row in rows)
        return found

    def page_for_customer(
        self,
        customer_id: str,
        *,
        status: ScheduleStatus | None,
        kind: ScheduleKind | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[StoredSchedule]:
        query = _select_stored().where(_t.c.customer_id == customer_id)
        if status is not None:
            query = query.where(_t.c.status == status.value)
        if kind is not None:
            query = query.where(_t.c.kind == kind.value)
        if after is not None:
            # Spelled out: SQL Server has no row-value comparison.
            created_at, schedule_id = after
            query = query.where(
                sa.or_(
                    _t.c.created_at < created_at,
                    sa.and_(_t.c.created_at == created_at, _t.c.id < schedule_id),
                )
            )
        rows = self._connection.execute(
            query.order_by(_t.c.created_at.desc(), _t.c.id.desc()).limit(limit)
        )
        return [_stored(row)[1] for row in rows]

    def lock(self, schedule_ids: Sequence[UUID]) -> dict[UUID, ScheduleState]:
        states: dict[UUID, ScheduleState] = {}
        for chunk in statements.in_list_chunks(sorted(set(schedule_ids))):
            query = sa.select(_t.c.id, _t.c.status, _t.c.version, _t.c.next_index).where(
                _t.c.id.in_(chunk)
            )
            for row in self._connection.execute(statements.lock_rows(query, _t)):
                states[row.id] = ScheduleState(
                    status=ScheduleStatus(row.status),
                    version=row.version,
                    next_index=row.next_index,
                )
        return states

    def update_status(
        self, schedule_id: UUID, status: ScheduleStatus, *, expected_version: int, at: datetime
    ) -> bool:
        result = self._connection.execute(
            _t.update()
            .where(_t.c.id == schedule_id, _t.c.version == expected_version)
            .values(status=status.value, version=expected_version + 1, updated_at=at)
        )
        return _exactly_one(result.rowcount)

    def set_next_indexes(self, next_indexes: Mapping[UUID, int | None]) -> None:
        if next_indexes:
            self._connection.execute(
                _t.update()
                .where(_t.c.id == sa.bindparam("b_id"))
                .values(next_index=sa.bindparam("b_next_index")),
                [{"b_id": key, "b_next_index": value} for key, value in next_indexes.items()],
            )

    def complete_many(self, schedule_ids: Sequence[UUID], at: datetime) -> None:
        for chunk in statements.in_list_chunks(sorted(schedule_ids)):
            self._connection.execute(
                _t.update()
                .where(_t.c.id.in_(chunk), _t.c.next_index.is_(None), _t.c.status.in_(_LIVE))
                .values(
                    status=ScheduleStatus.COMPLETED.value,
                    version=_t.c.version + 1,
                    updated_at=at,
                )
            )


def _terms(stored: StoredSchedule, at: datetime) -> dict[str, Any]:
    """The columns an amendment may change."""
    schedule = stored.schedule
    return {
        "purpose": schedule.purpose.value,
        "amount": schedule.amount.amount,
        "currency": schedule.amount.currency.code,
        "time_zone": schedule.recurrence.time_zone,
        "definition": stored.definition,
        "definition_version": definitions.VERSION,
        "first_index": schedule.first_index,
        "next_index": stored.next_index,
        "updated_at": at,
        "version": schedule.version,
    }


def _select_stored() -> sa.Select[Any]:
    return sa.select(
        _t.c.id,
        _t.c.customer_id,
        _t.c.status,
        _t.c.version,
        _t.c.created_at,
        _t.c.definition,
        _t.c.definition_version,
        _t.c.first_index,
        _t.c.next_index,
        _t.c.channel,
    )


def _stored(row: Any) -> tuple[UUID, StoredSchedule]:
    schedule = _parsed(row, row.definition)
    return row.id, StoredSchedule(
        schedule=dataclasses.replace(
            schedule,
            status=ScheduleStatus(row.status),
            version=row.version,
            first_index=row.first_index,
        ),
        next_index=row.next_index,
        channel=row.channel,
        definition=row.definition,
    )


def _exactly_one(rowcount: int) -> bool:
    if rowcount > 1:
        raise RuntimeError(f"a statement meant for one schedule changed {rowcount}")
    return rowcount == 1


def _parsed(row: Any, definition: Any) -> Schedule:
    # Parsing a definition validates its recurrence and calendar; the dispatcher would
    # otherwise repeat that for every operation of the schedule. Keyed by the schedule's
    # version too: an amendment stores a new definition under a new version.
    return _parse_cached(
        schedule_id=row.id,
        version=row.version,
        customer_id=row.customer_id,
        created_at=row.created_at,
        definition_version=row.definition_version,
        definition=definitions.canonical_json(definition),
    )


@lru_cache(maxsize=4096)
def _parse_cached(
    *,
    schedule_id: UUID,
    version: int,
    customer_id: str,
    created_at: datetime,
    definition_version: int,
    definition: str,
) -> Schedule:
    # Read as stored: the text rules a caller's document must pass are not checked
    # again, so a schedule accepted before a rule existed stays readable, and payable.
    return definitions.to_schedule(
        json.loads(definition),
        schedule_id=schedule_id,
        customer_id=customer_id,
        created_at=created_at,
        version=definition_version,
    )
