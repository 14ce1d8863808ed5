"""The audit trail: records of every change and privileged read, sealed into hash-chained
blocks.

Writers only insert records (with a sequence number). A single sealer later takes the
unsealed records in sequence order, hashes them into a block and chains the block to the
previous one, the shape of the Azure SQL ledger: no writer ever waits on a chain head.
Verification recomputes every block from its records.
"""

from __future__ import annotations

import hashlib
import json
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
    `previous_hash` to the block before."""

    block_no: int
    sealed_at: datetime
    record_count: int
    first_seq: int
    last_seq: int
    records_digest: str
    previous_hash: str
    block_hash: str


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


def records_digest(records: list[AuditRecord]) -> str:
    """SHA-256 over the records' canonical forms, in sequence order."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.seq):
        item = hashlib.sha256(canonical(record)).digest()
        digest.update(item)
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
) -> str:
    """The hash that chains a block: over its number, sealing time, extent, records
    digest and the previous block's hash. The sealing time is covered so that when the
    records were sealed is evidence too, not an editable annotation."""
    sealed = sealed_at.astimezone(UTC).isoformat(timespec="microseconds")
    text = f"{block_no}|{sealed}|{record_count}|{first_seq}|{last_seq}|{digest}|{previous}"
    return hashlib.sha256(text.encode()).hexdigest()


def seal(
    records: list[AuditRecord], *, block_no: int, previous_hash: str, sealed_at: datetime
) -> AuditBlock:
    """The block that seals `records` (at least one) after a block with `previous_hash`."""
    if not records:
        raise ValueError("a block seals at least one record")
    ordered = sorted(records, key=lambda r: r.seq)
    digest = records_digest(ordered)
    first_seq, last_seq = ordered[0].seq, ordered[-1].seq
    return AuditBlock(
        block_no=block_no,
        sealed_at=sealed_at,
        record_count=len(ordered),
        first_seq=first_seq,
        last_seq=last_seq,
        records_digest=digest,
        previous_hash=previous_hash,
        block_hash=block_hash(
            block_no=block_no,
            sealed_at=sealed_at,
            record_count=len(ordered),
            first_seq=first_seq,
            last_seq=last_seq,
            digest=digest,
            previous=previous_hash,
        ),
    )
