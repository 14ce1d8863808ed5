"""Migration 0002 (audit blocks keep a hash list) on SQLite: it adds the column without
touching a sealed row, the trail sealed before it still verifies and chains on, and
downgrading is refused once a block holds a list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.audit import SqlAuditRepository
from scheduler.adapters.sql.engine import create_engine
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import audit
from scheduler.service import seal_audit, verify_audit
from scheduler.service.verify_audit import VerificationReport
from tests.support import legacy_audit
from tests.support.clock import SettableClock

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite file at revision 0001, the schema before hash lists."""
    engine = create_engine(f"sqlite:///{tmp_path / 'tsched.sqlite3'}")
    migrate.upgrade(engine, "0001")
    yield engine
    engine.dispose()


def _entry(number: int) -> audit.AuditEntry:
    return audit.AuditEntry(
        occurred_at=START + timedelta(seconds=number),
        actor="user:alice",
        action="schedule.created",
        subject_type="schedule",
        subject_id=f"schedule-{number}",
        customer_id="customer-1",
        details={"amount": "1250.00", "n": number},
    )


def _seal_two_blocks_before_hash_lists(engine: sa.Engine) -> None:
    previous = None
    for block in range(2):
        with engine.begin() as connection:
            SqlAuditRepository(connection).append([_entry(3 * block + n) for n in range(3)])
            previous = legacy_audit.seal_before_hash_lists(
                connection, previous=previous, sealed_at=START + timedelta(hours=block)
            )


def _rows(engine: sa.Engine, table: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(sa.text("*")).select_from(sa.table(table)).order_by(sa.text("1"))
        )
        return [dict(row._mapping) for row in rows]


def _columns(engine: sa.Engine) -> list[str]:
    return [column["name"] for column in sa.inspect(engine).get_columns("audit_block")]


def _verify(engine: sa.Engine) -> VerificationReport:
    return verify_audit.verify_audit(uow=SqlUnitOfWork(engine))


def test_upgrading_adds_an_empty_column_and_leaves_every_sealed_row_as_it_was(
    engine: sa.Engine,
) -> None:
    _seal_two_blocks_before_hash_lists(engine)
    blocks, records = _rows(engine, "audit_block"), _rows(engine, "audit_record")

    migrate.upgrade(engine, "0002")

    assert _columns(engine)[-1] == "record_hashes"
    assert _rows(engine, "audit_block") == [block | {"record_hashes": None} for block in blocks]
    assert _rows(engine, "audit_record") == records


def test_a_trail_sealed_before_the_upgrade_verifies_and_chains_on_after_it(
    engine: sa.Engine,
) -> None:
    _seal_two_blocks_before_hash_lists(engine)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        SqlAuditRepository(connection).append([_entry(6), _entry(7)])

    sealed = seal_audit.seal_audit(
        uow_factory=lambda: SqlUnitOfWork(engine), clock=SettableClock(START + timedelta(days=1))
    )

    assert sealed.block is not None
    assert (sealed.block.block_no, sealed.block.record_hashes is not None) == (3, True)
    assert _verify(engine) == VerificationReport(
        blocks_checked=3, records_checked=8, unsealed_records=0
    )


def test_downgrading_is_refused_while_a_block_holds_a_hash_list(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as connection:
        SqlAuditRepository(connection).append([_entry(1)])
    seal_audit.seal_audit(uow_factory=lambda: SqlUnitOfWork(engine), clock=SettableClock(START))

    with pytest.raises(RuntimeError, match="1 audit blocks were sealed with hash lists"):
        migrate.downgrade(engine, "0001")

    assert "record_hashes" in _columns(engine)
    assert _verify(engine).ok


def test_downgrading_a_trail_without_hash_lists_drops_only_the_column(engine: sa.Engine) -> None:
    _seal_two_blocks_before_hash_lists(engine)
    blocks = _rows(engine, "audit_block")
    migrate.upgrade(engine)

    migrate.downgrade(engine, "0001")

    assert "record_hashes" not in _columns(engine)
    assert _rows(engine, "audit_block") == blocks
