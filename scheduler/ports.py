"""The ports the service layer needs, as Protocols. Adapters implement them; tests pass
fakes that pass the same contract tests."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, Self, runtime_checkable
from uuid import UUID

from scheduler.domain.audit import AuditBlock, AuditEntry, AuditRecord
from scheduler.domain.errors import SchedulerError
from scheduler.domain.events import Event, StoredEvent
from scheduler.domain.money import Money
from scheduler.domain.operation import Operation, OperationKind, OperationStatus, Outcome
from scheduler.domain.schedule import Schedule, ScheduleKind, ScheduleStatus


class Clock(Protocol):
    """Where the time comes from (an accelerated clock in demos, a settable one in tests)."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRequest:
    """Move `amount` from `debit_account` to `credit_account`, once.

    `idempotency_key` is the operation id: a gateway given the same key again returns
    the result of the first successful transfer instead of moving money twice.
    """

    idempotency_key: str
    debit_account: str
    credit_account: str
    amount: Money
    reference: str


class TransferOutcome(enum.StrEnum):
    """What a gateway says happened to a transfer."""

    #: The money moved (now, or by an earlier request with the same key).
    BOOKED = "booked"
    #: Declined for a business reason that may change (insufficient funds).
    DECLINED_RETRYABLE = "declined_retryable"
    #: Declined for a reason retrying cannot fix (closed account, currency mismatch).
    REJECTED = "rejected"
    #: The gateway could not answer (timeout, 5xx, connection lost): the money may or
    #: may not have moved; retrying with the same key is safe.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferResult:
    """A gateway's answer. `reference` is the booking id when BOOKED; `code` and
    `reason` say why otherwise (stable codes such as "insufficient_funds")."""

    outcome: TransferOutcome
    reference: str | None = None
    code: str | None = None
    reason: str | None = None


class PaymentGateway(Protocol):
    """The system that moves the money: the embedded ledger or core banking."""

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        """Execute each request, idempotently by its key; one result per request, in
        order. A failure of one request never affects another's result. Must not raise
        for a single transfer's failure: report it as that transfer's result."""
        ...


class AccountDirectoryUnavailable(SchedulerError):
    """The bank's books could not be asked who holds an account; try again shortly."""

    code = "account_directory_unavailable"


class AccountDirectory(Protocol):
    """Who holds which account, as the bank's books say."""

    def holds(self, customer_id: str, account_id: str) -> bool:
        """Whether `customer_id` holds the open account `account_id`. Raises
        `AccountDirectoryUnavailable` when the books cannot be asked."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxBacklog:
    """Events waiting to be published: how many (counted up to a bound), and when the
    oldest of them happened (None when none waits)."""

    unpublished: int
    counted_up_to: int
    oldest_at: datetime | None


class OutboxRepository(Protocol):
    """Events waiting to be published, written in the same transaction as the change."""

    def add(self, events: Sequence[Event]) -> None:
        """Store `events` for publishing once the transaction commits."""
        ...

    def unpublished(self, limit: int) -> list[StoredEvent]:
        """Up to `limit` unpublished events, oldest first."""
        ...

    def after(
        self, outbox_id: int, limit: int, *, unpublished_only: bool = False
    ) -> list[StoredEvent]:
        """Up to `limit` events with ids above `outbox_id`, oldest first."""
        ...

    def claim(self, *, limit: int, relay: str, now: datetime, until: datetime) -> list[StoredEvent]:
        """Hold up to `limit` of the oldest unpublished events for `relay` until `until`
        and return them, oldest first: events no relay holds, events whose hold ended by
        `now`, and events `relay` holds already. Another relay's claim skips them."""
        ...

    def backlog(self, at_most: int) -> OutboxBacklog:
        """How many events wait to be published, counting no further than `at_most`,
        and when the oldest happened."""
        ...

    def release(self, outbox_ids: Sequence[int], relay: str) -> None:
        """End `relay`'s hold on the unpublished events `outbox_ids`, so that any relay
        may claim them again at once."""
        ...

    def mark_published(self, outbox_ids: Sequence[int], at: datetime) -> None:
        """Record that the events with these outbox ids were delivered."""
        ...

    def dead_unqueued(self, limit: int) -> list[StoredEvent]:
        """Up to `limit` "operation dead" events not sent to their queue yet, oldest
        first (`mark_queued`), whether or not they were published to Kafka."""
        ...

    def mark_queued(self, outbox_ids: Sequence[int], at: datetime) -> None:
        """Record that the events with these outbox ids were sent to their queue."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """Which audit records a listing selects: those that occurred in [occurred_from,
    occurred_before) and whose other fields given (not None) are equal."""

    subject_type: str | None = None
    subject_id: str | None = None
    customer_id: str | None = None
    action: str | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None


class AuditRepository(Protocol):
    """The audit trail: writers append, the sealer seals, auditors verify."""

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Add records for `entries`, in order, unsealed."""
        ...

    def unsealed(self, limit: int) -> list[AuditRecord]:
        """Up to `limit` committed records no block holds yet, in sequence order."""
        ...

    def last_block(self) -> AuditBlock | None:
        """The newest sealed block, if any."""
        ...

    def add_block(self, block: AuditBlock, seqs: Sequence[int]) -> None:
        """Store `block` and mark the records `seqs` as sealed in it. Fails if another
        sealer stored a block with the same number first."""
        ...

    def blocks(self, after_block_no: int, limit: int) -> list[AuditBlock]:
        """Up to `limit` blocks numbered after `after_block_no`, in order."""
        ...

    def records_in_block(self, block_no: int) -> list[AuditRecord]:
        """The records sealed in block `block_no`, in sequence order."""
        ...

    def count_unsealed(self) -> int:
        """How many committed records no block holds yet."""
        ...

    def page(self, query: AuditQuery, *, before_seq: int | None, limit: int) -> list[AuditRecord]:
        """Up to `limit` records `query` selects, highest seq first, below `before_seq`
        if given."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerStatus:
    """Whether the event bus's brokers could be reached when last tried (None: not tried
    yet in this process), and since when that has been so."""

    reachable: bool | None
    since: datetime | None


@runtime_checkable
class ReportsBrokerStatus(Protocol):
    """An `EventPublisher` that can tell whether its brokers answer."""

    def status(self) -> BrokerStatus:
        """Whether the brokers could be reached, as last seen, and since when."""
        ...


class EventPublisher(Protocol):
    """Delivers events to the event bus (Kafka)."""

    def publish(self, events: Sequence[StoredEvent]) -> list[int]:
        """Publish `events` and return the outbox ids whose delivery the bus confirmed.
        Events not confirmed stay unpublished and are sent again later, with the same
        event id, so consumers de-duplicate."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMessage:
    """A message for a queue of the bank's message broker (Service Bus): a JSON `body`,
    a `message_id` the queue de-duplicates on, what it is about (`subject`), the
    message it answers (`correlation_id`) and a few `properties` a consumer may filter
    on without reading the body."""

    message_id: str
    subject: str
    body: dict[str, Any]
    content_type: str = "application/json"
    correlation_id: str | None = None
    properties: dict[str, str | int] = field(default_factory=dict)


class QueueSender(Protocol):
    """Sends messages to the queues of the bank's message broker."""

    def send(self, queue: str, messages: Sequence[QueueMessage]) -> None:
        """Send `messages` to `queue`, all of them or raise. A message sent again with
        the same `message_id` is dropped by the queue's duplicate detection."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSchedule:
    """A schedule as stored: the domain object, the index of the next occurrence still
    to be materialised (None when the sequence has ended), its channel, and the
    document the channel sent (`schemas.ScheduleIn`, as JSON)."""

    schedule: Schedule
    next_index: int | None
    channel: str
    definition: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleState:
    """What changes in a schedule as it runs, without its definition."""

    status: ScheduleStatus
    version: int
    next_index: int | None


class ScheduleRepository(Protocol):
    """Schedules, kept as the JSON document the channel sent plus query columns."""

    def add(self, stored: StoredSchedule, at: datetime) -> None:
        """Insert a new schedule."""
        ...

    def get_many(self, schedule_ids: Sequence[UUID]) -> dict[UUID, StoredSchedule]:
        """The schedules with these ids that exist."""
        ...

    def page_for_customer(
        self,
        customer_id: str,
        *,
        status: ScheduleStatus | None,
        kind: ScheduleKind | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[StoredSchedule]:
        """Up to `limit` of the customer's schedules, newest first, optionally of one
        status and kind, starting after the (created_at, id) position `after`."""
        ...

    def lock(self, schedule_ids: Sequence[UUID]) -> dict[UUID, ScheduleState]:
        """The state of the schedules with these ids, locked until the transaction
        ends, so that it stays true until then."""
        ...

    def amend(self, stored: StoredSchedule, *, expected_version: int, at: datetime) -> bool:
        """Replace the schedule's terms (definition, amount, series, next index, version)
        with `stored`'s if the stored version is `expected_version`; False if another
        change came first."""
        ...

    def update_status(
        self, schedule_id: UUID, status: ScheduleStatus, *, expected_version: int, at: datetime
    ) -> bool:
        """Set `status` if the stored version is `expected_version` (bumping it); False if
        another change came first."""
        ...

    def set_next_indexes(self, next_indexes: Mapping[UUID, int | None]) -> None:
        """Set each schedule's next_index (None: nothing left to materialise). The
        caller holds the rows locked (`lock`)."""
        ...

    def complete_many(self, schedule_ids: Sequence[UUID], at: datetime) -> None:
        """Mark COMPLETED, one version later, those of the schedules that have nothing
        left to materialise and are active or paused."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Occurrences:
    """A schedule's occurrences so far: the highest occurrence number materialised (None
    before any), and the latest nominal date whose execution has started, that is, was
    attempted, is in flight, or was skipped (None before any)."""

    highest_index: int | None
    latest_started: date | None


class OperationRepository(Protocol):
    """Operations: the materialised executions and reminders."""

    def add(self, operations: Sequence[Operation], at: datetime) -> None:
        """Insert new PENDING operations (their occurrence keys are unique)."""
        ...

    def claim_due(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> list[Operation]:
        """Lease up to `limit` due operations to `worker` (see statements.claim_due_operations)."""
        ...

    def leased(
        self, operation_ids: Sequence[UUID], *, worker: str, now: datetime
    ) -> list[Operation]:
        """The operations among `operation_ids` still CLAIMED by `worker` under a lease
        that has not expired at `now`, oldest due first. Reads without locking: the
        outcome is recorded only if the lease still holds then (`record_many`)."""
        ...

    def record_many(self, outcomes: Sequence[Outcome], *, worker: str) -> set[UUID]:
        """Store each outcome whose operation `worker` still holds under the same claim;
        return their ids. The others' leases were lost: another worker owns them now."""
        ...

    def cancel_open(self, schedule_id: UUID, at: datetime) -> list[Operation]:
        """Cancel the schedule's PENDING and RETRY_WAIT operations; return them."""
        ...

    def cancel_not_started(self, schedule_id: UUID, at: datetime) -> list[Operation]:
        """Cancel the schedule's PENDING operations that were never attempted; return
        them. Retries and re-driven operations are left to finish."""
        ...

    def occurrences_so_far(self, schedule_id: UUID) -> Occurrences:
        """What the schedule's operations say about the occurrences it has had."""
        ...

    def next_due_at(self) -> datetime | None:
        """When the earliest claimable operation comes due (or its lease expires)."""
        ...

    def in_flight(self, schedule_id: UUID) -> list[Operation]:
        """The schedule's CLAIMED operations: a worker may be executing them now."""
        ...

    def unfinished_executions(self, schedule_ids: Sequence[UUID]) -> set[UUID]:
        """Those of the schedules with an execution PENDING, CLAIMED or RETRY_WAIT."""
        ...

    def get(self, operation_id: UUID) -> Operation | None:
        """The operation with this id, if any, unlocked."""
        ...

    def lock(self, operation_id: UUID) -> Operation | None:
        """The operation with this id, if any, locked until the transaction ends."""
        ...

    def redrive(self, operation_id: UUID, at: datetime) -> None:
        """Make the operation PENDING and claimable at `at`: lease cleared, business
        declines reset, attempts kept. The caller holds the row locked (`lock`) and has
        checked the transition."""
        ...

    def page_by_status(
        self,
        *,
        statuses: Sequence[OperationStatus],
        customer_id: str | None,
        schedule_id: UUID | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[tuple[Operation, datetime]]:
        """Up to `limit` operations of any customer in one of `statuses`, each with when
        it last changed, latest first, optionally of one customer and schedule, starting
        after the (updated_at, id) position `after`."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One attempt at an operation, as the history keeps it."""

    id: int
    operation_id: UUID
    schedule_id: UUID
    kind: str
    attempt: int
    due_at: datetime
    started_at: datetime
    finished_at: datetime
    outcome: str
    error_code: str | None
    reason: str | None
    recommended_action: str | None
    gateway_reference: str | None
    debit_account: str
    credit_account: str
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryQuery:
    """Which of a customer's attempts: finished in [finished_from, finished_before),
    amount in [amount_min, amount_max] compared exactly, and each other filter that is
    not None equal to its column."""

    customer_id: str
    schedule_id: UUID | None = None
    outcome: str | None = None
    finished_from: datetime | None = None
    finished_before: datetime | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    currency: str | None = None


class HistoryRepository(Protocol):
    """Every attempt at every operation (the execution history)."""

    def add(self, outcomes: Sequence[Outcome], *, worker: str) -> None:
        """Record `outcomes` as attempts."""
        ...

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        """Up to `limit` of the attempts `query` selects, latest first, starting after
        the (finished_at, id) position `after`."""
        ...

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        """How many attempts `query` selects, counting no further than `at_most` (so a
        count against a cap costs at most the cap)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResponse:
    """The response an API request got, kept under its idempotency key. `request_hash`
    fingerprints the request, so a different request under the same key is told apart."""

    request_hash: str
    status_code: int
    body: str


class IdempotencyRepository(Protocol):
    """Responses kept per customer and `Idempotency-Key` until they expire."""

    def find(self, customer_id: str, key: str, now: datetime) -> StoredResponse | None:
        """The unexpired response stored under `key` for `customer_id`, if any."""
        ...

    def save(
        self, customer_id: str, key: str, response: StoredResponse, *, at: datetime, until: datetime
    ) -> None:
        """Keep `response` until `until`. Raises the store's integrity error if the key
        is taken: a concurrent request with the same key committed first."""
        ...

    def purge_expired(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` responses expired by `now`; returns how many."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MinuteLateness:
    """How late the first attempts at executions that started in one minute were: how
    many started, and the largest and mean lateness (start less due time), in seconds."""

    minute_start: datetime
    started: int
    max_seconds: float
    mean_seconds: float


class OperationsFigures(Protocol):
    """What the operations page, `tsched status` and the metrics show, read from the
    store in one transaction, each figure by an index."""

    def due_between(self, start: datetime, end: datetime) -> dict[OperationKind, int]:
        """How many operations waiting to run (pending, or waiting to retry) become due
        in [start, end), by kind."""
        ...

    def waiting(self, now: datetime) -> tuple[int, datetime | None]:
        """How many operations are due and not held by a worker at `now` (a lease that
        expired counts), and since when the oldest of them has been due."""
        ...

    def outcomes_between(self, since: datetime, until: datetime) -> dict[OperationStatus, int]:
        """How many attempts finished in [since, until), by outcome."""
        ...

    def lateness_per_minute(self, since: datetime, until: datetime) -> list[MinuteLateness]:
        """The lateness of first attempts at executions started in [since, until), a
        row per minute from `since` that had any, oldest first."""
        ...

    def stopped_counts(self) -> dict[OperationStatus, int]:
        """How many operations are failed, and dead, now."""
        ...


class UnitOfWork(Protocol):
    """One transaction over the store. Leaving the `with` block without `commit()` rolls
    everything back; the same object may be entered again for the next transaction.

    The repositories are read-only members so that an implementation may declare its
    concrete repository types (a mutable protocol attribute would have to match exactly).
    """

    @property
    def schedules(self) -> ScheduleRepository: ...

    @property
    def operations(self) -> OperationRepository: ...

    @property
    def history(self) -> HistoryRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def figures(self) -> OperationsFigures: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def commit(self) -> None:
        """Make the transaction's changes durable."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception inside undoes only what the block did."""
        ...


class ExportStoreUnavailable(SchedulerError):
    """The store of large downloads could not be written or asked for a link; try
    again shortly."""

    code = "export_store_unavailable"


class ExportStore(Protocol):
    """Where a download too large to answer in one response is written, to be fetched
    through a link that expires (Blob storage; DESIGN.md, "Azure"). The store deletes
    what it holds on its own after a while (a day in Azure), whether fetched or not.

    Both methods raise `ExportStoreUnavailable` when the store cannot be reached or
    refuses the request."""

    def save(self, name: str, chunks: Iterable[bytes], *, media_type: str, filename: str) -> int:
        """Write the bytes of `chunks`, in order, as the file `name`, holding only a
        bounded part of them in memory at a time; returns how many bytes were written.
        Nothing is visible under `name` until the last chunk is written: a failure
        (of the store or of `chunks`) leaves no file. Whoever fetches it is offered
        `filename` and `media_type`. `name` is the caller's, and should say nothing
        about the caller's customer (a random id): it ends up in a URL."""
        ...

    def link(self, name: str, *, now: datetime, expires_at: datetime) -> str:
        """A URL that reads the file `name`, and nothing else, without other credentials
        from `now` until `expires_at`. The URL is itself the credential: it must not be
        logged."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedAttempt:
    """A history row as the archive keeps it: the attempt, the customer it belongs to
    (by which the archive partitions it) and the worker that made it."""

    customer_id: str
    worker: str
    entry: HistoryEntry


class HistoryArchive(Protocol):
    """The execution history kept for the retention period (Cosmos DB), by customer.

    Reads answer as `HistoryRepository` does, over the archived attempts only."""

    def put_attempts(self, attempts: Sequence[ArchivedAttempt]) -> list[int]:
        """Store each attempt, replacing any earlier copy with its id (so storing again
        is harmless); return the ids the archive confirmed. An attempt not confirmed
        (the archive failed or throttled past its retries) is left out, and stays for
        the caller to store again."""
        ...

    def page_for_customer(
        self, query: HistoryQuery, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[HistoryEntry]:
        """Up to `limit` of the archived attempts `query` selects, latest first, after
        the (finished_at, id) position `after`."""
        ...

    def count_for_customer(self, query: HistoryQuery, *, at_most: int) -> int:
        """How many archived attempts `query` selects, counting no further than
        `at_most`."""
        ...


class AuditArchive(Protocol):
    """The audit trail kept for the retention period (Cosmos DB): sealed records, each
    with its customer's others, and the blocks that seal them, so that a block is
    verified from the archive alone."""

    def put_blocks(self, blocks: Sequence[AuditBlock]) -> list[int]:
        """Store each block (its hash list included), idempotently by number; return
        the numbers the archive confirmed."""
        ...

    def put_records(self, records: Sequence[AuditRecord]) -> list[int]:
        """Store each sealed record, idempotently by seq; return the seqs the archive
        confirmed. Raises ValueError for a record not sealed yet."""
        ...

    def records_in_block(self, block_no: int) -> list[AuditRecord]:
        """The archived records sealed in block `block_no`, in sequence order."""
        ...

    def page_records(
        self, query: AuditQuery, *, before_seq: int | None, limit: int
    ) -> list[AuditRecord]:
        """Up to `limit` archived records `query` selects, highest seq first, below
        `before_seq` if given."""
        ...


class ArchiveMarks(Protocol):
    """SQL's side of the archive: which rows the archive has confirmed, and the purge
    of confirmed rows older than the hot window. Rows are read in key order and only
    while unconfirmed, so a row whose transaction commits late (a lower id after higher
    ones) is still found."""

    def unarchived_attempts(self, limit: int) -> list[ArchivedAttempt]:
        """Up to `limit` attempts the archive has not confirmed, lowest id first."""
        ...

    def unarchived_blocks(self, limit: int) -> list[AuditBlock]:
        """Up to `limit` sealed blocks the archive has not confirmed, lowest first."""
        ...

    def unarchived_records(self, limit: int) -> list[AuditRecord]:
        """Up to `limit` sealed records the archive has not confirmed, lowest seq first
        (records not sealed yet wait for their block)."""
        ...

    def mark_attempts(self, ids: Sequence[int], at: datetime) -> None:
        """Record that the archive confirmed the attempts `ids` at `at`."""
        ...

    def mark_blocks(self, block_nos: Sequence[int], at: datetime) -> None:
        """Record that the archive confirmed the blocks `block_nos` at `at`."""
        ...

    def mark_records(self, seqs: Sequence[int], at: datetime) -> None:
        """Record that the archive confirmed the records `seqs` at `at`."""
        ...

    def purge_attempts(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to `limit` attempts finished before `finished_before` that the
        archive has confirmed, oldest first; returns how many. Never an unconfirmed one."""
        ...

    def purge_blocks(self, *, sealed_before: datetime, limit: int, at: datetime) -> list[int]:
        """Delete the records of up to `limit` blocks sealed before `sealed_before`
        whose block and every record the archive has confirmed, and mark those blocks
        `records_purged_at = at`; returns their numbers. The block rows stay: they are
        the chain the next block links to, and verification reads their records from
        the archive."""
        ...


class ArchivingUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also keeps the archive's marks."""

    @property
    def archive_marks(self) -> ArchiveMarks: ...


class Archive(HistoryArchive, AuditArchive, Protocol):
    """The history and audit archive: both halves, one store (Cosmos DB)."""
