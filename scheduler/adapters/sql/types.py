"""Column types that keep money exact and instants in UTC on every dialect."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An instant. `timestamptz` on PostgreSQL, `DATETIME2` (naive UTC) on SQL Server and
    ISO text (naive UTC) on SQLite. Refuses naive datetimes; always returns aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        if dialect.name == "mssql":
            return dialect.type_descriptor(sa.dialects.mssql.DATETIME2(precision=6))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A calendar date; DATE on SQL Server too (SQLAlchemy would say DATETIME when it cannot
#: see the server version, as when compiling offline).
LocalDate = sa.Date().with_variant(sa.dialects.mssql.DATE(), "mssql")


class Amount(sa.TypeDecorator[Decimal]):
    """An exact amount of money: NUMERIC(19, 4) where the database has exact decimals,
    canonical decimal text on SQLite (whose NUMERIC affinity would store a float).
    Arithmetic on amounts happens in Python, so SQLite loses nothing."""

    impl = sa.Numeric(19, 4, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(24))
        return dialect.type_descriptor(sa.Numeric(19, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"amounts are Decimal, not {type(value).__name__}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value)
