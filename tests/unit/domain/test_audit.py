"""Sealing audit records into hash-chained blocks: pure properties of the digest, the
hash list, the block hash and the chain, and the digest of blocks sealed before hash
lists, pinned so that they keep verifying."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.domain import audit

SEALED_AT = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def _record(seq: int, **overrides: Any) -> audit.AuditRecord:
    fields: dict[str, Any] = {
        "occurred_at": datetime(2027, 3, 1, 9, 0, seq % 60, 123456, tzinfo=UTC),
        "actor": "user:alice",
        "action": "schedule.created",
        "subject_type": "schedule",
        "subject_id": f"schedule-{seq}",
        "customer_id": "customer-1",
        "correlation_id": f"request-{seq}",
        "details": {"amount": "1250.00", "currency": "GBP", "tags": ["monthly", seq]},
    }
    fields.update(overrides)
    return audit.AuditRecord(seq=seq, entry=audit.AuditEntry(**fields))


def _records() -> list[audit.AuditRecord]:
    return [_record(seq) for seq in (7, 8, 11)]


def _seal(records: list[audit.AuditRecord], **overrides: Any) -> audit.AuditBlock:
    fields: dict[str, Any] = {
        "block_no": 3,
        "previous_hash": "ab" * 32,
        "sealed_at": SEALED_AT,
    }
    fields.update(overrides)
    return audit.seal(records, **fields)


def test_a_block_records_its_extent_count_and_predecessor() -> None:
    block = _seal(_records())

    assert block.block_no == 3
    assert block.record_count == 3
    assert block.first_seq == 7
    assert block.last_seq == 11
    assert block.previous_hash == "ab" * 32
    assert block.sealed_at == SEALED_AT
    assert block.record_hashes == audit.hash_list(_records())
    assert block.records_digest == audit.hash_list_digest(audit.hash_list(_records()))
    assert block.block_hash == audit.block_hash(
        block_no=3,
        sealed_at=SEALED_AT,
        record_count=3,
        first_seq=7,
        last_seq=11,
        digest=block.records_digest,
        previous="ab" * 32,
        with_hash_list=True,
    )
    assert audit.rehash(block) == block.block_hash


def test_hashes_are_lowercase_sha256_hex() -> None:
    block = _seal(_records())

    for value in (block.records_digest, block.block_hash):
        assert len(value) == 64
        assert set(value) <= set("0123456789abcdef")


def test_the_order_records_are_given_in_does_not_change_the_block() -> None:
    records = _records()

    assert _seal(list(reversed(records))) == _seal(records)


def test_the_sealing_time_is_part_of_the_block_hash() -> None:
    later = _seal(_records(), sealed_at=SEALED_AT + timedelta(microseconds=1))

    assert later.block_hash != _seal(_records()).block_hash


def test_a_block_seals_at_least_one_record() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        _seal([])


def test_the_same_instant_in_another_zone_gives_the_same_digest() -> None:
    utc = _record(1, occurred_at=datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    paris = _record(1, occurred_at=datetime(2027, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))))

    assert audit.canonical(utc) == audit.canonical(paris)


def test_the_order_of_keys_in_details_does_not_change_the_digest() -> None:
    one = _record(1, details={"a": 1, "b": {"x": 1, "y": 2}})
    other = _record(1, details={"b": {"y": 2, "x": 1}, "a": 1})

    assert audit.record_hash(one) == audit.record_hash(other)


_CHANGES: dict[str, Any] = {
    "occurred_at": datetime(2027, 3, 1, 9, 0, 0, 123457, tzinfo=UTC),
    "actor": "user:mallory",
    "action": "schedule.cancelled",
    "subject_type": "operation",
    "subject_id": "schedule-999",
    "customer_id": "customer-2",
    "correlation_id": "request-999",
    "details": {"amount": "1250.01", "currency": "GBP", "tags": ["monthly"]},
}


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("field", [*_CHANGES, "customer_id=None", "seq"])
def test_changing_any_field_of_any_record_changes_the_block_hash(field: str, index: int) -> None:
    records = _records()
    target = records[index]
    if field == "seq":
        changed = dataclasses.replace(target, seq=target.seq + 100)
    elif field == "customer_id=None":
        changed = dataclasses.replace(
            target, entry=dataclasses.replace(target.entry, customer_id=None)
        )
    else:
        changed = dataclasses.replace(
            target, entry=dataclasses.replace(target.entry, **{field: _CHANGES[field]})
        )
    tampered = [*records[:index], changed, *records[index + 1 :]]

    assert _seal(tampered).records_digest != _seal(records).records_digest
    assert _seal(tampered).block_hash != _seal(records).block_hash


def test_removing_or_adding_a_record_changes_the_block_hash() -> None:
    records = _records()
    original = _seal(records).block_hash

    assert _seal(records[:-1]).block_hash != original
    assert _seal([*records, _record(12)]).block_hash != original


def test_the_block_hash_chains_to_the_previous_block() -> None:
    first = _seal(_records(), block_no=1, previous_hash=audit.GENESIS_HASH)
    second = _seal([_record(12)], block_no=2, previous_hash=first.block_hash)
    rewritten_first = _seal(_records()[:2], block_no=1, previous_hash=audit.GENESIS_HASH)

    assert second.previous_hash == first.block_hash
    assert _seal(
        [_record(12)], block_no=2, previous_hash=rewritten_first.block_hash
    ).block_hash != (second.block_hash)


def test_the_block_number_is_part_of_the_block_hash() -> None:
    assert _seal(_records(), block_no=4).block_hash != _seal(_records()).block_hash


def test_the_genesis_hash_is_sixty_four_zeros() -> None:
    assert audit.GENESIS_HASH == "0" * 64


# No booleans beside integers: Python holds True == 1, JSON (rightly) does not.
_DETAILS = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.none(), st.integers(), st.text(max_size=12), st.lists(st.integers(), max_size=3)),
    max_size=4,
)


@given(details=_DETAILS, other=_DETAILS)
def test_two_records_have_the_same_digest_exactly_when_their_details_are_equal(
    details: dict[str, Any], other: dict[str, Any]
) -> None:
    same = audit.record_hash(_record(1, details=details)) == audit.record_hash(
        _record(1, details=other)
    )

    assert same == (details == other)


# The hash list: each record's seq and hash, the locator of a broken block's records


def test_the_hash_list_has_one_seq_and_hash_line_per_record_in_seq_order() -> None:
    records = _records()

    hashes = audit.hash_list(list(reversed(records)))

    assert hashes.split("\n") == [f"{r.seq}:{audit.record_hash(r)}" for r in records]
    assert audit.parse_hash_list(hashes) == {r.seq: audit.record_hash(r) for r in records}


@pytest.mark.parametrize(
    "text",
    ["", "7", "7:" + "a" * 63, "7:" + "A" * 64, "x:" + "a" * 64, "8:{a}\n7:{a}", "7:{a}\n7:{a}"],
    ids=["empty", "no-hash", "short-hash", "uppercase", "seq-not-a-number", "descending", "twice"],
)
def test_only_a_well_formed_hash_list_parses(text: str) -> None:
    with pytest.raises(ValueError, match="hash list"):
        audit.parse_hash_list(text.format(a="a" * 64))


def test_comparing_an_intact_block_with_its_hash_list_names_no_record() -> None:
    sealed = audit.parse_hash_list(audit.hash_list(_records()))

    assert audit.compare(sealed, _records()) == audit.RecordFindings()


def test_comparing_names_the_changed_the_missing_and_the_added_records() -> None:
    seven, eight, eleven = _records()
    sealed = audit.parse_hash_list(audit.hash_list([seven, eight, eleven]))
    edited = dataclasses.replace(
        eight, entry=dataclasses.replace(eight.entry, details={"amount": "1250.01"})
    )

    found = audit.compare(sealed, [seven, edited, _record(12)])

    assert found == audit.RecordFindings(changed=(8,), missing=(11,), added=(12,))


def test_swapping_the_contents_of_two_records_names_both_as_changed() -> None:
    seven, eight, eleven = _records()
    sealed = audit.parse_hash_list(audit.hash_list([seven, eight, eleven]))
    swapped = [
        dataclasses.replace(seven, entry=eight.entry),
        dataclasses.replace(eight, entry=seven.entry),
        eleven,
    ]

    assert audit.compare(sealed, swapped) == audit.RecordFindings(changed=(7, 8))
    assert audit.hash_list_digest(audit.hash_list(swapped)) != _seal(_records()).records_digest


def test_the_digest_commits_to_the_seqs_the_hash_list_names() -> None:
    """Relabelling a line of the list (to point the blame elsewhere) changes its digest."""
    hashes = audit.hash_list(_records())
    relabelled = hashes.replace("8:", "9:", 1)

    assert audit.hash_list_digest(relabelled) != audit.hash_list_digest(hashes)


def test_dropping_the_hash_list_changes_the_block_hash() -> None:
    """A block with a list cannot pass for one sealed before lists, nor the reverse."""
    block = _seal(_records())

    assert audit.rehash(dataclasses.replace(block, record_hashes=None)) != block.block_hash


# Blocks sealed before hash lists (migration 0002) keep verifying


def test_a_block_sealed_before_hash_lists_still_rehashes_to_its_stored_hash() -> None:
    """Digest and hash of `_records()` sealed as block 3 by the code before hash lists,
    pinned: if these formulas drift, every block sealed before would fail verification."""
    legacy = audit.AuditBlock(
        block_no=3,
        sealed_at=SEALED_AT,
        record_count=3,
        first_seq=7,
        last_seq=11,
        records_digest="fdab1eb7b5384808e73e5fb1c7fc48503977d8e82a6038e50465b6ed7b5c6e98",
        previous_hash="ab" * 32,
        block_hash="b686fe8736d237b3e9071d9c90f813fe1523680c2dc5db3b41886bfb902c8352",
    )

    assert audit.legacy_records_digest(_records()) == legacy.records_digest
    assert audit.rehash(legacy) == legacy.block_hash
