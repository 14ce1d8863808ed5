"""API responses kept under their idempotency keys, per customer, until they expire."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.ports import StoredResponse

_t = tables.api_idempotency


class SqlIdempotencyRepository:
    """`IdempotencyRepository` over one connection (the unit of work's transaction), so
    a response is kept in the same commit as the change it reports."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def find(self, customer_id: str, key: str, now: datetime) -> StoredResponse | None:
        row = self._connection.execute(
            sa.select(_t.c.request_hash, _t.c.status_code, _t.c.response_body).where(
                _t.c.customer_id == customer_id,
                _t.c.idempotency_key == key,
                _t.c.expires_at > now,
            )
        ).first()
        if row is None:
            return None
        return StoredResponse(
            request_hash=row.request_hash, status_code=row.status_code, body=row.response_body
        )

    def save(
        self, customer_id: str, key: str, response: StoredResponse, *, at: datetime, until: datetime
    ) -> None:
        # An expired row under the same key makes way; a live one raises IntegrityError.
        self._connection.execute(
            _t.delete().where(
                _t.c.customer_id == customer_id,
                _t.c.idempotency_key == key,
                _t.c.expires_at <= at,
            )
        )
        self._connection.execute(
            _t.insert().values(
                customer_id=customer_id,
                idempotency_key=key,
                request_hash=response.request_hash,
                status_code=response.status_code,
                response_body=response.body,
                created_at=at,
                expires_at=until,
            )
        )

    def purge_expired(self, now: datetime, limit: int) -> int:
        # Row-value IN lists do not exist on SQL Server: delete up to the expiry time of
        # the limit-th oldest row instead (ties may take a few more; all are expired).
        cutoff = self._connection.execute(
            sa.select(_t.c.expires_at)
            .where(_t.c.expires_at <= now)
            .order_by(_t.c.expires_at)
            .offset(limit - 1)
            .limit(1)
        ).scalar_one_or_none()
        result = self._connection.execute(
            _t.delete().where(_t.c.expires_at <= (now if cutoff is None else cutoff))
        )
        return result.rowcount
