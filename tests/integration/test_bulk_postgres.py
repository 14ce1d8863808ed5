"""Rows inserted by COPY on PostgreSQL read back exactly as executemany's would: JSON
documents, exact decimals, instants, NULLs and text that COPY must escape."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import bulk, migrate, tables
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.audit import AuditEntry
from scheduler.domain.events import Event, EventType
from tests.services import postgres

pytestmark = pytest.mark.integration

AWKWARD_TEXT = "tab\there, newline\nthere, back\\slash, quote \" and ' and a null-ish \\N"


@pytest.fixture(scope="module")
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    with postgres.scratch_database(postgres_url, "tsched_bulk") as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        yield engine
        engine.dispose()


def test_copied_events_round_trip_json_instants_and_awkward_text(engine: sa.Engine) -> None:
    paris = timezone(timedelta(hours=1))
    event = Event(
        event_id=uuid.uuid4(),
        type=EventType.EXECUTION_SUCCEEDED,
        schedule_id=uuid.uuid4(),
        customer_id="customer-ü",
        occurred_at=datetime(2027, 3, 1, 10, 0, 0, 123456, tzinfo=paris),
        data={"amount": {"value": "1250.00", "currency": "GBP"}, "note": AWKWARD_TEXT},
    )
    with SqlUnitOfWork(engine) as uow:
        uow.outbox.add([event])
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        [stored] = uow.outbox.unpublished(10)

    assert stored.event == Event(
        event_id=event.event_id,
        type=event.type,
        schedule_id=event.schedule_id,
        customer_id="customer-ü",
        occurred_at=datetime(2027, 3, 1, 9, 0, 0, 123456, tzinfo=UTC),
        data=event.data,
    )


def test_copied_audit_records_keep_nulls_and_nested_details(engine: sa.Engine) -> None:
    entry = AuditEntry(
        occurred_at=datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
        actor="worker:w-1",
        action="operation.succeeded",
        subject_type="operation",
        subject_id=str(uuid.uuid4()),
        customer_id=None,
        correlation_id=None,
        details={"error_code": None, "nested": {"list": [1, "two", None]}, "text": AWKWARD_TEXT},
    )
    with SqlUnitOfWork(engine) as uow:
        uow.audit.append([entry])
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        records = uow.audit.unsealed(1000)

    assert [record.entry for record in records if record.entry.subject_id == entry.subject_id] == [
        entry
    ]


def test_copied_ledger_amounts_stay_exact_to_four_places(engine: sa.Engine) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "idempotency_key": f"bulk-{number}",
            "debit_account": "A",
            "credit_account": "B",
            "amount": Decimal(amount),
            "currency": "EUR",
            "reference": AWKWARD_TEXT,
            "booked_at": datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
        }
        for number, amount in enumerate(["0.0001", "99999999999999.9999", "1250.10"])
    ]
    with engine.begin() as connection:
        bulk.insert_rows(connection, tables.ledger_entry, rows)
    e = tables.ledger_entry.c
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(e.idempotency_key, e.amount, e.reference)
            .where(e.idempotency_key.startswith("bulk-"))
            .order_by(e.idempotency_key)
        ).all()

    assert [tuple(row) for row in stored] == [
        (row["idempotency_key"], row["amount"], row["reference"]) for row in rows
    ]
