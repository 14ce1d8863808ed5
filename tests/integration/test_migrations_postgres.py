"""Migrations and the audit trail on real PostgreSQL: the migrated schema is exactly
`tables.metadata`, it downgrades cleanly, a trail sealed before blocks kept hash lists
(0002) still verifies after the upgrade, a full block names the record that was changed,
and sealing never holds up writers nor loses, doubles or forges a record when sealers
and writers run at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import migrate, tables
from scheduler.adapters.sql.audit import SqlAuditRepository
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import audit
from scheduler.service import seal_audit, verify_audit
from scheduler.service.seal_audit import SealOutcome
from scheduler.service.verify_audit import BreakReason, BrokenBlock, VerificationReport
from tests.services import postgres
from tests.support import legacy_audit
from tests.support.clock import SettableClock
from tests.support.unit_of_work import UnitOfWorkWithAudit

pytestmark = pytest.mark.integration

#: Seconds a thread may take before the test fails instead of hanging.
DEADLINE = 60.0
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database of this test's own, dropped afterwards."""
    with postgres.scratch_database(postgres_url, "tsched_migrations") as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on a database migrated to head."""
    engine = sql_engine.create_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _entry(writer: int, number: int) -> audit.AuditEntry:
    return audit.AuditEntry(
        occurred_at=START + timedelta(microseconds=number),
        actor=f"worker-{writer}",
        action="operation.executed",
        subject_type="operation",
        subject_id=f"{writer}:{number}",
        customer_id="customer-1",
        details={"writer": writer, "number": number, "amount": "10.00"},
    )


def _append(engine: sa.Engine, entries: Sequence[audit.AuditEntry]) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.audit.append(entries)
        uow.commit()


def _seal(
    engine: sa.Engine,
    repository: type[SqlAuditRepository] = SqlAuditRepository,
    max_records: int = 5000,
) -> seal_audit.SealResult:
    return seal_audit.seal_audit(
        uow_factory=lambda: UnitOfWorkWithAudit(engine, repository),
        clock=SettableClock(START),
        max_records=max_records,
    )


def _verify(engine: sa.Engine) -> VerificationReport:
    return verify_audit.verify_audit(uow=SqlUnitOfWork(engine), page_size=7)


def _scalar(engine: sa.Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql)).scalar_one()


# Migrations


def test_the_migrated_schema_matches_tables_metadata_with_no_differences(
    database_url: str,
) -> None:
    migrate.upgrade(database_url)

    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, tables.metadata)
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()

    assert differences == []
    assert version == [(ScriptDirectory.from_config(migrate.alembic_config()).get_current_head(),)]


def test_the_migrated_schema_has_exact_amounts_utc_instants_and_partial_indexes(
    engine: sa.Engine,
) -> None:
    with engine.connect() as connection:
        columns = connection.execute(
            sa.text(
                "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale"
                " FROM information_schema.columns WHERE table_schema = 'public'"
                " AND column_name IN ('amount', 'due_at', 'seq', 'details', 'id')"
                " AND table_name IN ('operation', 'audit_record')"
                " ORDER BY table_name, column_name"
            )
        ).all()
        partial = dict(
            connection.execute(
                sa.text(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE indexname IN ('ix_operation_claim', 'ix_outbox_unpublished')"
                )
            ).all()
        )

    assert columns == [
        ("audit_record", "details", "json", None, None),
        ("audit_record", "seq", "bigint", 64, 0),
        ("operation", "amount", "numeric", 19, 4),
        ("operation", "due_at", "timestamp with time zone", None, None),
        ("operation", "id", "uuid", None, None),
    ]
    assert partial == {
        "ix_operation_claim": (
            "CREATE INDEX ix_operation_claim ON public.operation USING btree (available_at)"
            " WHERE ((status)::text = ANY ((ARRAY['pending'::character varying,"
            " 'retry_wait'::character varying, 'claimed'::character varying])::text[]))"
        ),
        "ix_outbox_unpublished": (
            "CREATE INDEX ix_outbox_unpublished ON public.outbox USING btree (id)"
            " WHERE (published_at IS NULL)"
        ),
    }


def test_upgrading_an_up_to_date_database_changes_nothing(engine: sa.Engine) -> None:
    _append(engine, [_entry(1, 1)])

    migrate.upgrade(engine)

    assert _scalar(engine, "SELECT count(*) FROM audit_record") == 1


def test_downgrading_to_base_drops_every_table(engine: sa.Engine) -> None:
    migrate.downgrade(engine, "base")

    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    assert _scalar(engine, "SELECT count(*) FROM alembic_version") == 0
    migrate.upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version", *tables.metadata.tables}


# Audit blocks keep a hash list (0002)


def _rows(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(*table.primary_key.columns))
        return [dict(row._mapping) for row in rows]


def test_a_trail_sealed_before_hash_lists_is_untouched_by_the_upgrade_and_still_verifies(
    database_url: str,
) -> None:
    engine = sql_engine.create_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        previous = None
        for block in range(2):
            with engine.begin() as connection:
                SqlAuditRepository(connection).append([_entry(1, 3 * block + n) for n in range(3)])
                previous = legacy_audit.seal_before_hash_lists(
                    connection, previous=previous, sealed_at=START + timedelta(hours=block)
                )
        with engine.connect() as connection:
            blocks = [
                dict(row._mapping)
                for row in connection.execute(
                    sa.text("SELECT * FROM audit_block ORDER BY block_no")
                )
            ]
            records = [
                dict(row._mapping)
                for row in connection.execute(sa.text("SELECT * FROM audit_record ORDER BY seq"))
            ]

        migrate.upgrade(engine)
        _append(engine, [_entry(2, 1)])
        sealed = _seal(engine)

        # Later revisions' columns (0004: the archive's marks) are empty too.
        assert _rows(engine, tables.audit_block)[:2] == [
            block | {"record_hashes": None, "archived_at": None, "records_purged_at": None}
            for block in blocks
        ]
        assert _rows(engine, tables.audit_record)[:6] == [
            record | {"archived_at": None} for record in records
        ]
        assert sealed.block is not None
        assert sealed.block.record_hashes is not None
        assert _verify(engine) == VerificationReport(
            blocks_checked=3, records_checked=7, unsealed_records=0
        )
        with pytest.raises(RuntimeError, match="sealed with hash lists"):
            migrate.downgrade(engine, "0001")
    finally:
        engine.dispose()


def test_one_byte_changed_in_a_sealed_block_of_5000_names_exactly_that_record(
    engine: sa.Engine,
) -> None:
    _append(engine, [_entry(1, number) for number in range(5000)])
    assert _seal(engine).records_sealed == 5000
    seq = _scalar(engine, "SELECT min(seq) + 2345 FROM audit_record")
    with engine.begin() as connection:
        changed = connection.execute(
            sa.text(
                "UPDATE audit_record SET details = replace(details::text, '10.00', '10.01')::json"
                " WHERE seq = :seq"
            ),
            {"seq": seq},
        )
        assert changed.rowcount == 1
        connection.execute(sa.text("DELETE FROM audit_record WHERE seq = :seq"), {"seq": seq + 1})

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=1,
        reason=BreakReason.COUNT_MISMATCH,
        records_named=True,
        changed_seqs=(seq,),
        missing_seqs=(seq + 1,),
    )


# The audit trail under concurrency


def test_writers_and_a_sealer_running_at_once_seal_every_record_exactly_once(
    engine: sa.Engine,
) -> None:
    writers, transactions, per_transaction = 4, 40, 5
    writers_done = threading.Event()
    outcomes: list[SealOutcome] = []

    def write(writer: int) -> None:
        for transaction in range(transactions):
            first = transaction * per_transaction
            _append(engine, [_entry(writer, first + i) for i in range(per_transaction)])

    def seal() -> None:
        # Seal in small blocks while the writers run, then until nothing is left.
        while True:
            finished = writers_done.is_set()
            result = _seal(engine, max_records=23)
            outcomes.append(result.outcome)
            if finished and result.outcome is SealOutcome.NOTHING_TO_SEAL:
                return

    with ThreadPoolExecutor(max_workers=writers + 1) as pool:
        sealer = pool.submit(seal)
        writing = [pool.submit(write, writer) for writer in range(writers)]
        for future in writing:
            future.result(timeout=DEADLINE)
        writers_done.set()
        sealer.result(timeout=DEADLINE)

    total = writers * transactions * per_transaction
    assert _verify(engine) == VerificationReport(
        blocks_checked=outcomes.count(SealOutcome.SEALED),
        records_checked=total,
        unsealed_records=0,
    )
    assert outcomes.count(SealOutcome.SEALED) >= total // 23
    assert SealOutcome.LOST_RACE not in outcomes
    assert _scalar(engine, "SELECT count(*) FROM audit_record") == total
    assert _scalar(engine, "SELECT count(DISTINCT subject_id) FROM audit_record") == total
    assert _scalar(engine, "SELECT count(*) FROM audit_record WHERE block_no IS NULL") == 0
    assert _scalar(engine, "SELECT sum(record_count) FROM audit_block") == total


def test_a_writer_commits_while_a_sealer_holds_its_block_uncommitted(engine: sa.Engine) -> None:
    _append(engine, [_entry(1, number) for number in range(3)])

    with SqlUnitOfWork(engine) as sealer, ThreadPoolExecutor(max_workers=1) as pool:
        records = sealer.audit.unsealed(100)
        block = audit.seal(records, block_no=1, previous_hash=audit.GENESIS_HASH, sealed_at=START)
        sealer.audit.add_block(block, [record.seq for record in records])
        # The sealer now holds block 1 and its records' rows; a writer must not care.
        pool.submit(_append, engine, [_entry(2, number) for number in range(4)]).result(
            timeout=DEADLINE
        )
        sealer.commit()

    assert _verify(engine) == VerificationReport(
        blocks_checked=1, records_checked=3, unsealed_records=4
    )


def test_two_sealers_racing_for_the_same_block_one_wins_and_the_other_changes_nothing(
    engine: sa.Engine,
) -> None:
    _append(engine, [_entry(1, number) for number in range(10)])
    both_read = threading.Barrier(2, timeout=DEADLINE)

    class _MeetBeforeAdding(SqlAuditRepository):
        """Holds each sealer after it read the chain head and the records, so both
        build block 1 from the same state before either stores it."""

        def add_block(self, block: audit.AuditBlock, seqs: Sequence[int]) -> None:
            both_read.wait()
            super().add_block(block, seqs)

    def race() -> seal_audit.SealResult:
        return _seal(engine, _MeetBeforeAdding)

    with ThreadPoolExecutor(max_workers=2) as pool:
        racers = [pool.submit(race), pool.submit(race)]
        results = [racer.result(timeout=DEADLINE) for racer in racers]

    assert sorted(result.outcome for result in results) == [
        SealOutcome.LOST_RACE,
        SealOutcome.SEALED,
    ]
    assert _verify(engine) == VerificationReport(
        blocks_checked=1, records_checked=10, unsealed_records=0
    )
    assert _scalar(engine, "SELECT count(*) FROM audit_block") == 1
