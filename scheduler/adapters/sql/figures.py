"""The operations figures in SQL: counts and ages read through the indexes the engine
already has (the claim's, the stopped operations', execution history's by finish
time), so that a page polling them every few seconds
adds no index and takes no lock."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scheduler.adapters.sql import statements, tables
from scheduler.domain.operation import OperationKind, OperationStatus
from scheduler.ports import MinuteLateness

_operation = tables.operation
_attempt = tables.execution_attempt
#: Operations that wait to run and hold no lease: what `due_between` counts.
_WAITING = (OperationStatus.PENDING.value, OperationStatus.RETRY_WAIT.value)


class SqlOperationsFigures:
    """`OperationsFigures` on one transaction's connection."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def due_between(self, start: datetime, end: datetime) -> dict[OperationKind, int]:
        o = _operation.c
        rows = self._connection.execute(
            sa.select(o.kind, sa.func.count())
            .where(
                sa.text(tables.CLAIMABLE),
                o.status.in_(_WAITING),
                o.available_at >= start,
                o.available_at < end,
            )
            .group_by(o.kind)
        )
        return {OperationKind(kind): count for kind, count in rows}

    def waiting(self, now: datetime) -> tuple[int, datetime | None]:
        o = _operation.c
        row = self._connection.execute(
            sa.select(sa.func.count(), sa.func.min(o.available_at)).where(
                sa.text(tables.CLAIMABLE), o.available_at <= now
            )
        ).one()
        count, oldest = row
        return int(count), oldest

    def outcomes_between(self, since: datetime, until: datetime) -> dict[OperationStatus, int]:
        h = _attempt.c
        rows = self._connection.execute(
            sa.select(h.outcome, sa.func.count())
            .where(h.finished_at >= since, h.finished_at < until)
            .group_by(h.outcome)
        )
        return {OperationStatus(outcome): count for outcome, count in rows}

    def lateness_per_minute(self, since: datetime, until: datetime) -> list[MinuteLateness]:
        dialect = self._connection.dialect.name
        rows = self._connection.execute(
            statements.lateness_per_minute(dialect), {"since": since, "until": until}
        )
        return [
            MinuteLateness(
                minute_start=since + timedelta(minutes=int(row.minute)),
                started=int(row.started),
                max_seconds=max(float(row.max_seconds), 0.0),
                mean_seconds=max(float(row.total_seconds) / int(row.started), 0.0),
            )
            for row in rows
        ]

    def stopped_counts(self) -> dict[OperationStatus, int]:
        o = _operation.c
        rows = self._connection.execute(
            sa.select(o.status, sa.func.count()).where(sa.text(tables.STOPPED)).group_by(o.status)
        )
        return {OperationStatus(status): count for status, count in rows}
