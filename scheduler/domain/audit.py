"""The audit trail: records of every change and privileged read, sealed into hash-chained
blocks.

Writers only insert records (with a sequence number). A single sealer later takes the
unsealed records in sequence order, hashes them into a block and chains the block to the
previous one, the shape of the Azure SQL ledger: no writer ever waits on a chain head.
Verification recomputes every block from its records.

A block also stores its hash list, each record's seq and hash, so that verification of a
broken block names the records that changed, went missing or were added, rather than
leaving an auditor to diff the block by hand. The list is only a locator: the block's
digest is recomputed from the records' content, and the list is trusted only when it
hashes to that sealed digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: The previous hash of block 1.
GENESIS_HASH = "0" * 64

#: Records are kept this long (7 years), in the store and in the archive.
RETENTION_DAYS = 7 * 366


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """Who (`actor`) did what (`action`) to which subject, for which customer, as part of
    which request (`correlation_id`), with what details (JSON-ready values only)."""

    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    customer_id: str | None = None
    correlation_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """An entry as stored, with its sequence number and its block once sealed."""

    seq: int
    entry: AuditEntry
    block_no: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditBlock:
    """A sealed run of records: the digest of their canonical form, chained by
    `previous_hash` to the block before.

    `record_hashes` is the block's hash list (see `hash_list`): each record's sequence
    number and hash, which lets verification name the records that no longer match. It is
    None for blocks sealed before hash lists existed (migration 0002); those still verify,
    by `legacy_records_digest`, but a broken one cannot name its records."""

    block_no: int
    sealed_at: datetime
    record_count: int
    first_seq: int
    last_seq: int
    records_digest: str
    previous_hash: str
    block_hash: str
    record_hashes: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordFindings:
    """Which records of a block differ from its hash list, by sequence number, ascending:
    `changed` are still there but hash differently (their content or seq was edited),
    `missing` were sealed but are gone from the block (deleted, or moved to another),
    `added` are in the block but were never sealed in it (forged in, or moved here)."""

    changed: tuple[int, ...] = ()
    missing: tuple[int, ...] = ()
    added: tuple[int, ...] = ()


def canonical(record: AuditRecord) -> bytes:
    """The bytes a record's hash covers: every field, in a fixed JSON form."""
    entry = record.entry
    document = {
        "seq": record.seq,
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "customer_id": entry.customer_id,
        "correlation_id": entry.correlation_id,
        "details": entry.details,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def record_hash(record: AuditRecord) -> str:
    """SHA-256 (lowercase hex) of the record's canonical form; it covers the seq too."""
    return hashlib.sha256(canonical(record)).hexdigest()


def hash_list(records: Iterable[AuditRecord]) -> str:
    """The hash list of a block holding `records`: one line `<seq>:<record_hash>` per
    record, in sequence order, joined by newlines (none at the end). About 72 bytes a
    record, so 360 kB for a block of 5,000."""
    return "\n".join(
        f"{record.seq}:{record_hash(record)}" for record in sorted(records, key=lambda r: r.seq)
    )


def hash_list_digest(hashes: str) -> str:
    """The records digest of a block with a hash list: SHA-256 of the list's text. It
    commits to every record's content (its hash), its seq, and the order and number of
    records; recomputed from the records themselves it is the proof, while the stored
    list only says which record differs."""
    return hashlib.sha256(hashes.encode()).hexdigest()


def parse_hash_list(hashes: str) -> dict[int, str]:
    """The record hashes of a list `hash_list` wrote, by seq. Raises ValueError for text
    it did not write (only lists whose digest the block sealed should be parsed)."""
    parsed: dict[int, str] = {}
    for line in hashes.split("\n"):
        seq, colon, digest = line.partition(":")
        well_formed = (
            colon
            and seq.isascii()
            and seq.isdigit()
            and len(digest) == 64
            and not digest.strip("0123456789abcdef")
        )
        if not well_formed:
            raise ValueError(f"not a hash list line: {line[:80]!r}")
        parsed[int(seq)] = digest
    if list(parsed) != sorted(parsed) or len(parsed) != hashes.count("\n") + 1:
        raise ValueError("a hash list holds each seq once, in ascending order")
    return parsed


def compare(sealed: Mapping[int, str], records: Iterable[AuditRecord]) -> RecordFindings:
    """Which of `records` (a block's records now) differ from `sealed` (its hash list)."""
    current = {record.seq: record_hash(record) for record in records}
    return RecordFindings(
        changed=tuple(
            sorted(seq for seq, digest in current.items() if sealed.get(seq, digest) != digest)
        ),
        missing=tuple(sorted(sealed.keys() - current.keys())),
        added=tuple(sorted(current.keys() - sealed.keys())),
    )


def legacy_records_digest(records: Iterable[AuditRecord]) -> str:
    """The records digest of a block sealed before hash lists: SHA-256 over the records'
    raw SHA-256 hashes concatenated in sequence order. Only to verify those blocks."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.seq):
        digest.update(hashlib.sha256(canonical(record)).digest())
    return digest.hexdigest()


def block_hash(
    *,
    block_no: int,
    sealed_at: datetime,
    record_count: int,
    first_seq: int,
    last_seq: int,
    digest: str,
    previous: str,
    with_hash_list: bool,
) -> str:
    """The hash that chains a block: over its number, sealing time, extent, records
    digest and the previous block's hash. The sealing time is covered so that when the
    records were sealed is evidence too, not an editable annotation.

    A block with a hash list (`with_hash_list`) marks its text `v2|`, so that dropping a
    block's list (to pass it off as a legacy block) or adding one breaks its hash."""
    sealed = sealed_at.astimezone(UTC).isoformat(timespec="microseconds")
    text = f"{block_no}|{sealed}|{record_count}|{first_seq}|{last_seq}|{digest}|{previous}"
    if with_hash_list:
        text = f"v2|{text}"
    return hashlib.sha256(text.encode()).hexdigest()


def rehash(block: AuditBlock) -> str:
    """The block hash recomputed from the block's stored fields."""
    return block_hash(
        block_no=block.block_no,
        sealed_at=block.sealed_at,
        record_count=block.record_count,
        first_seq=block.first_seq,
        last_seq=block.last_seq,
        digest=block.records_digest,
        previous=block.previous_hash,
        with_hash_list=block.record_hashes is not None,
    )


def seal(
    records: list[AuditRecord], *, block_no: int, previous_hash: str, sealed_at: datetime
) -> AuditBlock:
    """The block that seals `records` (at least one) after a block with `previous_hash`,
    with its hash list."""
    if not records:
        raise ValueError("a block seals at least one record")
    ordered = sorted(records, key=lambda r: r.seq)
    hashes = hash_list(ordered)
    digest = hash_list_digest(hashes)
    first_seq, last_seq = ordered[0].seq, ordered[-1].seq
    return AuditBlock(
        block_no=block_no,
        sealed_at=sealed_at,
        record_count=len(ordered),
        first_seq=first_seq,
        last_seq=last_seq,
        records_digest=digest,
        previous_hash=previous_hash,
        record_hashes=hashes,
        block_hash=block_hash(
            block_no=block_no,
            sealed_at=sealed_at,
            record_count=len(ordered),
            first_seq=first_seq,
            last_seq=last_seq,
            digest=digest,
            previous=previous_hash,
            with_hash_list=True,
        ),
    )
