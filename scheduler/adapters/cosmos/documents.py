"""The archive's items: history attempts, audit records and audit blocks as Cosmos DB
JSON documents, and back, with the partition each lives in and the time it has left.

Everything a query compares is stored so that comparing the stored text compares the
values: instants as fixed-width UTC text (`2027-03-02T09:00:00.000000Z`), amounts beside
their decimal text as a fixed-width key of ten-thousandths (`amount_key`). Cosmos DB
numbers are IEEE doubles and would round a 19-digit amount or a large integer in a
record's details; so amounts are text, and an audit record's details are kept as the
JSON text they were sealed with, which recomputes the record's hash exactly.

Partitions (DESIGN.md: "partition by customer"):

- history: `customerId`, every attempt has one.
- audit records: `customer:<id>` keeps a customer's records together; a record without
  a customer (a staff action, a privileged read of no one's data) goes to
  `system:<YYYY-MM>` of when it occurred, so no logical partition grows without bound
  (Cosmos DB caps one at 20 GB).
- audit blocks: `blocks:<n>` for block numbers `n * BLOCKS_PER_PARTITION` onwards. A
  block's digest covers records of many customers, so blocks cannot live with any one
  of them; each block keeps its hash list (seq and hash of every record), so one
  customer's records are proven against their blocks without reading anyone else's,
  and the blocks chain by `previous_hash` as in SQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from uuid import UUID

from scheduler.domain.audit import AuditBlock, AuditEntry, AuditRecord
from scheduler.domain.money import MAX_INTEGER_DIGITS, Money
from scheduler.ports import ArchivedAttempt, HistoryEntry

#: Block numbers one block partition holds: 10,000 blocks of at most 5,000 records keep
#: hash lists of at most 3.6 GB together, well inside a logical partition's 20 GB.
BLOCKS_PER_PARTITION = 10_000

#: Item types in the audit container.
RECORD = "record"
BLOCK = "block"

#: Amounts are keyed in ten-thousandths (the store's scale), shifted by this so that
#: negative amounts sort first, and written with `_AMOUNT_KEY_DIGITS` digits.
_AMOUNT_SCALE = 4
_AMOUNT_OFFSET = 10 ** (MAX_INTEGER_DIGITS + _AMOUNT_SCALE)
_AMOUNT_KEY_DIGITS = MAX_INTEGER_DIGITS + _AMOUNT_SCALE + 1
_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"


def instant(moment: datetime) -> str:
    """`moment` as fixed-width UTC text, which sorts as the instants do."""
    if moment.tzinfo is None:
        raise ValueError("an archived instant must be timezone-aware")
    return moment.astimezone(UTC).strftime(_INSTANT)


def parse_instant(text: str) -> datetime:
    """The aware UTC datetime `instant` wrote as `text`."""
    return datetime.strptime(text, _INSTANT).replace(tzinfo=UTC)


def amount_key(amount: Decimal) -> str:
    """The fixed-width key of an amount the store can hold: comparing keys as text
    compares the amounts exactly."""
    return _key(int(amount.scaleb(_AMOUNT_SCALE).to_integral_exact()))


def amount_bound(bound: Decimal, *, least: bool) -> str | None:
    """The key to compare with for an inclusive bound on amounts: a least amount rounds
    up to the next ten-thousandth, a greatest one down (amounts have no finer digits).
    None when no amount the store holds can pass a least bound; a greatest bound past
    every amount is the largest key, one below every amount a key below all of them."""
    scaled = bound.scaleb(_AMOUNT_SCALE).to_integral_value(
        rounding=ROUND_CEILING if least else ROUND_FLOOR
    )
    largest = _AMOUNT_OFFSET - 1
    if scaled > largest:
        return None if least else _key(largest)
    if scaled < -largest:
        return _key(-largest) if least else _key(-largest - 1)
    return _key(int(scaled))


def _key(scaled: int) -> str:
    return f"{scaled + _AMOUNT_OFFSET:0{_AMOUNT_KEY_DIGITS}d}"


def ttl(happened_at: datetime, *, now: datetime, retention: timedelta) -> int:
    """Seconds an item about something that happened at `happened_at` has left at
    `now`, so that it expires `retention` after it happened however late it is
    archived (or archived again); at least 1, as Cosmos DB requires."""
    left = retention - (now - happened_at)
    return max(1, int(left.total_seconds()))


# History


def attempt_item(attempt: ArchivedAttempt, *, ttl_seconds: int) -> dict[str, Any]:
    """The history item of an attempt: its id is the SQL row's id."""
    entry = attempt.entry
    return {
        "id": str(entry.id),
        "customerId": attempt.customer_id,
        "rowId": entry.id,
        "operationId": str(entry.operation_id),
        "scheduleId": str(entry.schedule_id),
        "kind": entry.kind,
        "attempt": entry.attempt,
        "worker": attempt.worker,
        "dueAt": instant(entry.due_at),
        "startedAt": instant(entry.started_at),
        "finishedAt": instant(entry.finished_at),
        "outcome": entry.outcome,
        "errorCode": entry.error_code,
        "reason": entry.reason,
        "recommendedAction": entry.recommended_action,
        "gatewayReference": entry.gateway_reference,
        "debitAccount": entry.debit_account,
        "creditAccount": entry.credit_account,
        "amount": str(entry.amount.amount),
        "currency": entry.amount.currency.code,
        "amountKey": amount_key(entry.amount.amount),
        "ttl": ttl_seconds,
    }


def attempt_entry(item: dict[str, Any]) -> HistoryEntry:
    """The history entry an attempt item holds."""
    return HistoryEntry(
        id=item["rowId"],
        operation_id=UUID(item["operationId"]),
        schedule_id=UUID(item["scheduleId"]),
        kind=item["kind"],
        attempt=item["attempt"],
        due_at=parse_instant(item["dueAt"]),
        started_at=parse_instant(item["startedAt"]),
        finished_at=parse_instant(item["finishedAt"]),
        outcome=item["outcome"],
        error_code=item["errorCode"],
        reason=item["reason"],
        recommended_action=item["recommendedAction"],
        gateway_reference=item["gatewayReference"],
        debit_account=item["debitAccount"],
        credit_account=item["creditAccount"],
        amount=Money.of(item["amount"], item["currency"]),
    )


# Audit


def record_partition(entry: AuditEntry) -> str:
    """The audit partition of a record: its customer's, else its month's."""
    if entry.customer_id is not None:
        return customer_partition(entry.customer_id)
    return f"system:{entry.occurred_at.astimezone(UTC):%Y-%m}"


def customer_partition(customer_id: str) -> str:
    """The audit partition of customer `customer_id`'s records."""
    return f"customer:{customer_id}"


def block_partition(block_no: int) -> str:
    """The audit partition holding block `block_no`."""
    return f"blocks:{block_no // BLOCKS_PER_PARTITION}"


def record_item(record: AuditRecord, *, ttl_seconds: int) -> dict[str, Any]:
    """The audit item of a sealed record."""
    if record.block_no is None:
        raise ValueError(f"audit record {record.seq} is not sealed: only sealed ones are archived")
    entry = record.entry
    return {
        "id": f"record-{record.seq}",
        "partitionKey": record_partition(entry),
        "type": RECORD,
        "seq": record.seq,
        "blockNo": record.block_no,
        "occurredAt": instant(entry.occurred_at),
        "actor": entry.actor,
        "action": entry.action,
        "subjectType": entry.subject_type,
        "subjectId": entry.subject_id,
        "customerId": entry.customer_id,
        "correlationId": entry.correlation_id,
        "details": json.dumps(entry.details, sort_keys=True, separators=(",", ":"), default=str),
        "ttl": ttl_seconds,
    }


def record_of(item: dict[str, Any]) -> AuditRecord:
    """The audit record an item holds."""
    return AuditRecord(
        seq=item["seq"],
        block_no=item["blockNo"],
        entry=AuditEntry(
            occurred_at=parse_instant(item["occurredAt"]),
            actor=item["actor"],
            action=item["action"],
            subject_type=item["subjectType"],
            subject_id=item["subjectId"],
            customer_id=item["customerId"],
            correlation_id=item["correlationId"],
            details=json.loads(item["details"]),
        ),
    )


def block_item(block: AuditBlock, *, ttl_seconds: int) -> dict[str, Any]:
    """The audit item of a sealed block, its hash list included."""
    return {
        "id": f"block-{block.block_no}",
        "partitionKey": block_partition(block.block_no),
        "type": BLOCK,
        "blockNo": block.block_no,
        "sealedAt": instant(block.sealed_at),
        "recordCount": block.record_count,
        "firstSeq": block.first_seq,
        "lastSeq": block.last_seq,
        "recordsDigest": block.records_digest,
        "previousHash": block.previous_hash,
        "blockHash": block.block_hash,
        "recordHashes": block.record_hashes,
        "ttl": ttl_seconds,
    }


def block_of(item: dict[str, Any]) -> AuditBlock:
    """The audit block an item holds."""
    return AuditBlock(
        block_no=item["blockNo"],
        sealed_at=parse_instant(item["sealedAt"]),
        record_count=item["recordCount"],
        first_seq=item["firstSeq"],
        last_seq=item["lastSeq"],
        records_digest=item["recordsDigest"],
        previous_hash=item["previousHash"],
        block_hash=item["blockHash"],
        record_hashes=item["recordHashes"],
    )
