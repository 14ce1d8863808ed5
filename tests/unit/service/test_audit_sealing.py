"""Sealing the audit trail into blocks and verifying it, on a SQLite file migrated with
the real migrations: intact trails verify, every kind of tampering is pinned to its block
and, where the block keeps a hash list, to the records that differ; blocks sealed before
hash lists still verify."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import tables
from scheduler.adapters.sql.audit import SqlAuditRepository
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import audit, errors
from scheduler.service import seal_audit, verify_audit
from scheduler.service.seal_audit import SealOutcome
from scheduler.service.verify_audit import BreakReason, BrokenBlock, VerificationReport
from tests.support import legacy_audit
from tests.support.clock import SettableClock
from tests.support.unit_of_work import UnitOfWorkWithAudit

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


def _entry(number: int, **overrides: Any) -> audit.AuditEntry:
    fields: dict[str, Any] = {
        "occurred_at": START + timedelta(seconds=number, microseconds=number),
        "actor": "user:alice",
        "action": "schedule.created",
        "subject_type": "schedule",
        "subject_id": f"schedule-{number}",
        "customer_id": "customer-1",
        "correlation_id": f"request-{number}",
        "details": {"amount": "1250.00", "currency": "GBP", "n": number},
    }
    fields.update(overrides)
    return audit.AuditEntry(**fields)


def _append(engine: sa.Engine, entries: Sequence[audit.AuditEntry]) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.audit.append(entries)
        uow.commit()


def _seal(
    engine: sa.Engine, clock: SettableClock, max_records: int = 5000
) -> seal_audit.SealResult:
    return seal_audit.seal_audit(
        uow_factory=lambda: SqlUnitOfWork(engine), clock=clock, max_records=max_records
    )


def _verify(engine: sa.Engine, page_size: int = 100) -> VerificationReport:
    return verify_audit.verify_audit(uow=SqlUnitOfWork(engine), page_size=page_size)


def _three_blocks_of_two(engine: sa.Engine, clock: SettableClock) -> None:
    """Blocks 1, 2, 3 holding seqs 1-2, 3-4, 5-6."""
    for block in range(3):
        _append(engine, [_entry(2 * block + 1), _entry(2 * block + 2)])
        assert _seal(engine, clock).outcome is SealOutcome.SEALED


def _execute(engine: sa.Engine, sql: str, **params: Any) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)


def _scalar(engine: sa.Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql)).scalar_one()


def test_appended_records_come_back_unsealed_in_order_with_their_details_intact(
    engine: sa.Engine,
) -> None:
    entries = [
        _entry(1, details={"nested": {"list": [1, "two", None]}, "text": "Zürich → Łódź"}),
        _entry(2, customer_id=None, correlation_id=None, details={}),
        _entry(3),
    ]
    _append(engine, entries)

    with SqlUnitOfWork(engine) as uow:
        records = uow.audit.unsealed(10)
        count = uow.audit.count_unsealed()

    assert [record.seq for record in records] == [1, 2, 3]
    assert [record.entry for record in records] == entries
    assert [record.block_no for record in records] == [None, None, None]
    assert count == 3


def test_sealing_puts_the_records_in_block_one_chained_to_genesis_and_it_verifies(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1), _entry(2), _entry(3)])

    result = _seal(engine, clock)

    assert result.outcome is SealOutcome.SEALED
    assert result.records_sealed == 3
    assert result.block is not None
    assert result.block.block_no == 1
    assert result.block.previous_hash == audit.GENESIS_HASH
    assert (result.block.first_seq, result.block.last_seq) == (1, 3)
    assert result.block.sealed_at == START
    with SqlUnitOfWork(engine) as uow:
        assert uow.audit.last_block() == result.block
        assert [record.block_no for record in uow.audit.records_in_block(1)] == [1, 1, 1]
    assert _verify(engine) == VerificationReport(
        blocks_checked=1, records_checked=3, unsealed_records=0
    )


def test_each_block_chains_to_the_block_before(engine: sa.Engine, clock: SettableClock) -> None:
    _three_blocks_of_two(engine, clock)

    with SqlUnitOfWork(engine) as uow:
        blocks = uow.audit.blocks(0, 10)

    assert [block.block_no for block in blocks] == [1, 2, 3]
    assert [block.previous_hash for block in blocks] == [
        audit.GENESIS_HASH,
        blocks[0].block_hash,
        blocks[1].block_hash,
    ]
    assert [(block.first_seq, block.last_seq) for block in blocks] == [(1, 2), (3, 4), (5, 6)]
    assert _verify(engine).ok


def test_sealing_takes_at_most_max_records_oldest_first(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(number) for number in range(1, 6)])

    results = [_seal(engine, clock, max_records=2) for _ in range(3)]

    assert [result.records_sealed for result in results] == [2, 2, 1]
    assert [
        (block.block_no, block.first_seq, block.last_seq)
        for block in (result.block for result in results)
        if block is not None
    ] == [(1, 1, 2), (2, 3, 4), (3, 5, 5)]
    assert _verify(engine) == VerificationReport(
        blocks_checked=3, records_checked=5, unsealed_records=0
    )


def test_sealing_twice_with_nothing_new_creates_no_empty_block(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1)])
    _seal(engine, clock)

    again = _seal(engine, clock)

    assert again == seal_audit.SealResult(outcome=SealOutcome.NOTHING_TO_SEAL)
    assert again.records_sealed == 0
    assert _scalar(engine, "SELECT count(*) FROM audit_block") == 1


def test_sealing_an_empty_trail_creates_no_block(engine: sa.Engine, clock: SettableClock) -> None:
    assert _seal(engine, clock).outcome is SealOutcome.NOTHING_TO_SEAL
    assert _verify(engine) == VerificationReport(
        blocks_checked=0, records_checked=0, unsealed_records=0
    )


def test_records_written_after_the_last_seal_are_counted_as_unsealed_not_failed(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1), _entry(2)])
    _seal(engine, clock)
    _append(engine, [_entry(3), _entry(4), _entry(5)])

    assert _verify(engine) == VerificationReport(
        blocks_checked=1, records_checked=2, unsealed_records=3
    )


def test_a_record_whose_details_were_changed_breaks_its_block_and_is_named(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    tampered = {"amount": "9999.00", "currency": "GBP", "n": 4}
    _execute(engine, "UPDATE audit_record SET details = :d WHERE seq = 4", d=json.dumps(tampered))

    assert _verify(engine) == VerificationReport(
        blocks_checked=2,
        records_checked=4,
        unsealed_records=0,
        first_broken=BrokenBlock(
            block_no=2,
            reason=BreakReason.RECORDS_DIGEST_MISMATCH,
            records_named=True,
            changed_seqs=(4,),
        ),
    )


def test_one_byte_changed_in_one_record_of_a_full_block_names_exactly_that_record(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(number) for number in range(1, 201)])
    _seal(engine, clock)
    # "1250.00" -> "1250.01" in the stored JSON text of record 137, nothing else.
    _execute(
        engine,
        "UPDATE audit_record SET details = replace(details, '1250.00', '1250.01') WHERE seq = 137",
    )

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=1,
        reason=BreakReason.RECORDS_DIGEST_MISMATCH,
        records_named=True,
        changed_seqs=(137,),
    )


def test_a_record_whose_actor_was_changed_breaks_its_block(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    _execute(engine, "UPDATE audit_record SET actor = 'user:mallory' WHERE seq = 1")

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=1,
        reason=BreakReason.RECORDS_DIGEST_MISMATCH,
        records_named=True,
        changed_seqs=(1,),
    )


def test_a_deleted_record_breaks_its_block_and_is_named_missing(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    _execute(engine, "DELETE FROM audit_record WHERE seq = 5")

    assert _verify(engine) == VerificationReport(
        blocks_checked=3,
        records_checked=5,
        unsealed_records=0,
        first_broken=BrokenBlock(
            block_no=3, reason=BreakReason.COUNT_MISMATCH, records_named=True, missing_seqs=(5,)
        ),
    )


def test_two_records_whose_contents_were_swapped_are_both_named_changed(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    # Every column but seq and block_no trades places: the block still holds the same
    # two records in the same seqs, in the other order.
    record = tables.audit_record
    contents = [column for column in record.c if column.name not in ("seq", "block_no")]
    with engine.begin() as connection:
        three, four = connection.execute(
            sa.select(*contents).where(record.c.seq.in_([3, 4])).order_by(record.c.seq)
        ).all()
        for seq, row in ((3, four), (4, three)):
            connection.execute(sa.update(record).where(record.c.seq == seq).values(**row._asdict()))

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=2,
        reason=BreakReason.RECORDS_DIGEST_MISMATCH,
        records_named=True,
        changed_seqs=(3, 4),
    )


def test_a_record_rewritten_with_its_line_of_the_hash_list_breaks_the_block_as_a_whole(
    engine: sa.Engine, clock: SettableClock
) -> None:
    """The hash list is only a locator: rewriting a record and its hash consistently
    leaves the block's sealed digest, which the list no longer hashes to."""
    _three_blocks_of_two(engine, clock)
    _execute(engine, "UPDATE audit_record SET actor = 'user:mallory' WHERE seq = 3")
    with SqlUnitOfWork(engine) as uow:
        [rewritten, four] = uow.audit.records_in_block(2)
    with engine.begin() as connection:
        connection.execute(
            sa.update(tables.audit_block)
            .where(tables.audit_block.c.block_no == 2)
            .values(record_hashes=audit.hash_list([rewritten, four]))
        )

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=2, reason=BreakReason.HASH_LIST_MISMATCH
    )


def test_a_hash_list_edited_beside_intact_records_breaks_the_block(
    engine: sa.Engine, clock: SettableClock
) -> None:
    """Blame pointed at a record that was never touched is itself tampering."""
    _three_blocks_of_two(engine, clock)
    with SqlUnitOfWork(engine) as uow:
        [block] = [block for block in uow.audit.blocks(0, 10) if block.block_no == 2]
    assert block.record_hashes is not None
    with engine.begin() as connection:
        connection.execute(
            sa.update(tables.audit_block)
            .where(tables.audit_block.c.block_no == 2)
            .values(record_hashes=block.record_hashes.replace("3:", "9:", 1))
        )

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=2, reason=BreakReason.HASH_LIST_MISMATCH
    )


def test_a_block_whose_hash_list_was_dropped_is_a_chain_break(
    engine: sa.Engine, clock: SettableClock
) -> None:
    """Without its list a block would be checked as one sealed before lists; its hash
    says it had one."""
    _three_blocks_of_two(engine, clock)
    _execute(engine, "UPDATE audit_block SET record_hashes = NULL WHERE block_no = 2")

    assert _verify(engine).first_broken == BrokenBlock(block_no=2, reason=BreakReason.CHAIN_BREAK)


def test_a_record_forged_into_a_sealed_block_breaks_it(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    _execute(
        engine,
        "INSERT INTO audit_record (occurred_at, actor, action, subject_type, subject_id,"
        " details, block_no) VALUES ('2027-03-01 09:00:03.500000', 'user:alice',"
        " 'schedule.cancelled', 'schedule', 'schedule-3', '{}', 2)",
    )

    assert _verify(engine) == VerificationReport(
        blocks_checked=2,
        records_checked=5,
        unsealed_records=0,
        first_broken=BrokenBlock(
            block_no=2, reason=BreakReason.COUNT_MISMATCH, records_named=True, added_seqs=(7,)
        ),
    )


def test_a_record_moved_into_another_block_breaks_the_first_block_it_left(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    _execute(engine, "UPDATE audit_record SET block_no = 3 WHERE seq = 2")

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=1, reason=BreakReason.COUNT_MISMATCH, records_named=True, missing_seqs=(2,)
    )


def test_an_edited_block_row_is_a_chain_break(engine: sa.Engine, clock: SettableClock) -> None:
    _three_blocks_of_two(engine, clock)
    _execute(engine, "UPDATE audit_block SET record_count = 3 WHERE block_no = 2")

    assert _verify(engine).first_broken == BrokenBlock(block_no=2, reason=BreakReason.CHAIN_BREAK)


def test_a_block_whose_sealing_time_was_edited_is_a_chain_break(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    with engine.begin() as connection:
        connection.execute(
            sa.update(tables.audit_block)
            .where(tables.audit_block.c.block_no == 2)
            .values(sealed_at=START - timedelta(days=1))
        )

    assert _verify(engine).first_broken == BrokenBlock(block_no=2, reason=BreakReason.CHAIN_BREAK)


def test_a_deleted_block_is_a_chain_break_at_the_block_after_it(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _three_blocks_of_two(engine, clock)
    _execute(engine, "DELETE FROM audit_block WHERE block_no = 2")

    assert _verify(engine) == VerificationReport(
        blocks_checked=2,
        records_checked=4,
        unsealed_records=0,
        first_broken=BrokenBlock(block_no=3, reason=BreakReason.CHAIN_BREAK),
    )


def test_verification_pages_through_every_block(engine: sa.Engine, clock: SettableClock) -> None:
    _append(engine, [_entry(number) for number in range(1, 8)])
    for _ in range(7):
        _seal(engine, clock, max_records=1)

    assert _verify(engine, page_size=2) == VerificationReport(
        blocks_checked=7, records_checked=7, unsealed_records=0
    )


class _StaleHeadRepository(SqlAuditRepository):
    """Reports no block yet, as a sealer would that read the chain head just before
    another sealer committed block 1."""

    def last_block(self) -> audit.AuditBlock | None:
        return None


def test_a_sealer_that_read_a_stale_chain_head_loses_the_race_and_changes_nothing(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1), _entry(2)])
    _seal(engine, clock)
    _append(engine, [_entry(3)])

    lost = seal_audit.seal_audit(
        uow_factory=lambda: UnitOfWorkWithAudit(engine, _StaleHeadRepository), clock=clock
    )

    assert lost == seal_audit.SealResult(outcome=SealOutcome.LOST_RACE)
    assert _verify(engine) == VerificationReport(
        blocks_checked=1, records_checked=2, unsealed_records=1
    )


def test_a_block_cannot_claim_records_another_block_already_sealed(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1), _entry(2)])
    first = _seal(engine, clock).block
    assert first is not None
    with SqlUnitOfWork(engine) as uow:
        records = uow.audit.records_in_block(1)
    second = audit.seal(records, block_no=2, previous_hash=first.block_hash, sealed_at=clock.now())

    with SqlUnitOfWork(engine) as uow, pytest.raises(errors.LostSealRace) as raised:
        uow.audit.add_block(second, [1, 2])

    assert raised.value.block_no == 2
    assert raised.value.details == {"block_no": 2, "expected": 2, "stamped": 0}
    assert _scalar(engine, "SELECT count(*) FROM audit_block") == 1


def test_a_sealed_block_stores_the_hash_list_of_exactly_the_records_it_stamped(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(number) for number in range(1, 6)])

    block = _seal(engine, clock, max_records=3).block

    assert block is not None
    with SqlUnitOfWork(engine) as uow:
        stored = uow.audit.last_block()
        stamped = uow.audit.records_in_block(1)
    assert stored == block
    assert [record.seq for record in stamped] == [1, 2, 3]
    assert block.record_hashes == audit.hash_list(stamped)
    assert block.records_digest == audit.hash_list_digest(audit.hash_list(stamped))


# Blocks sealed before hash lists (migration 0002)


def test_blocks_sealed_before_hash_lists_verify_and_chain_into_blocks_sealed_after(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1), _entry(2)])
    with engine.begin() as connection:
        legacy = legacy_audit.seal_before_hash_lists(
            connection, previous=None, sealed_at=clock.now()
        )
    _append(engine, [_entry(3)])

    after = _seal(engine, clock).block

    assert after is not None
    assert (after.block_no, after.previous_hash) == (2, legacy.block_hash)
    with SqlUnitOfWork(engine) as uow:
        assert [block.record_hashes is None for block in uow.audit.blocks(0, 10)] == [True, False]
    assert _verify(engine) == VerificationReport(
        blocks_checked=2, records_checked=3, unsealed_records=0
    )


def test_a_changed_record_in_a_block_sealed_before_hash_lists_breaks_it_unnamed(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1), _entry(2)])
    with engine.begin() as connection:
        legacy_audit.seal_before_hash_lists(connection, previous=None, sealed_at=clock.now())
    _execute(engine, "UPDATE audit_record SET actor = 'user:mallory' WHERE seq = 2")

    assert _verify(engine).first_broken == BrokenBlock(
        block_no=1, reason=BreakReason.RECORDS_DIGEST_MISMATCH, records_named=False
    )


def test_a_hash_list_added_to_a_block_sealed_before_lists_is_a_chain_break(
    engine: sa.Engine, clock: SettableClock
) -> None:
    _append(engine, [_entry(1), _entry(2)])
    with engine.begin() as connection:
        legacy_audit.seal_before_hash_lists(connection, previous=None, sealed_at=clock.now())
    with SqlUnitOfWork(engine) as uow:
        records = uow.audit.records_in_block(1)
    with engine.begin() as connection:
        connection.execute(
            sa.update(tables.audit_block).values(record_hashes=audit.hash_list(records))
        )

    assert _verify(engine).first_broken == BrokenBlock(block_no=1, reason=BreakReason.CHAIN_BREAK)
