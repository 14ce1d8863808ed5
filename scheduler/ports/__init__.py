"""The ports the service layer needs, as Protocols, one module per concern. Adapters
implement them; tests pass fakes that pass the same contract tests.

Every port is importable from here too (`from scheduler.ports import UnitOfWork`).
"""

from scheduler.ports.archive import Archive as Archive
from scheduler.ports.archive import ArchivedAttempt as ArchivedAttempt
from scheduler.ports.archive import ArchiveMarks as ArchiveMarks
from scheduler.ports.archive import ArchivingUnitOfWork as ArchivingUnitOfWork
from scheduler.ports.archive import AuditArchive as AuditArchive
from scheduler.ports.archive import HistoryArchive as HistoryArchive
from scheduler.ports.audit import AuditQuery as AuditQuery
from scheduler.ports.audit import AuditRepository as AuditRepository
from scheduler.ports.clock import Clock as Clock
from scheduler.ports.exports import ExportStore as ExportStore
from scheduler.ports.exports import ExportStoreUnavailable as ExportStoreUnavailable
from scheduler.ports.figures import MinuteLateness as MinuteLateness
from scheduler.ports.figures import OperationsFigures as OperationsFigures
from scheduler.ports.history import HistoryEntry as HistoryEntry
from scheduler.ports.history import HistoryQuery as HistoryQuery
from scheduler.ports.history import HistoryRepository as HistoryRepository
from scheduler.ports.idempotency import IdempotencyRepository as IdempotencyRepository
from scheduler.ports.idempotency import StoredResponse as StoredResponse
from scheduler.ports.messaging import BrokerStatus as BrokerStatus
from scheduler.ports.messaging import EventPublisher as EventPublisher
from scheduler.ports.messaging import QueueMessage as QueueMessage
from scheduler.ports.messaging import QueueSender as QueueSender
from scheduler.ports.messaging import ReportsBrokerStatus as ReportsBrokerStatus
from scheduler.ports.operations import Occurrences as Occurrences
from scheduler.ports.operations import OperationRepository as OperationRepository
from scheduler.ports.outbox import OutboxBacklog as OutboxBacklog
from scheduler.ports.outbox import OutboxRepository as OutboxRepository
from scheduler.ports.payments import AccountDirectory as AccountDirectory
from scheduler.ports.payments import AccountDirectoryUnavailable as AccountDirectoryUnavailable
from scheduler.ports.payments import PaymentGateway as PaymentGateway
from scheduler.ports.payments import TransferOutcome as TransferOutcome
from scheduler.ports.payments import TransferRequest as TransferRequest
from scheduler.ports.payments import TransferResult as TransferResult
from scheduler.ports.schedules import ScheduleRepository as ScheduleRepository
from scheduler.ports.schedules import ScheduleState as ScheduleState
from scheduler.ports.schedules import StoredSchedule as StoredSchedule
from scheduler.ports.unit_of_work import UnitOfWork as UnitOfWork

__all__ = [
    "archive",
    "audit",
    "clock",
    "exports",
    "figures",
    "history",
    "idempotency",
    "messaging",
    "operations",
    "outbox",
    "payments",
    "schedules",
    "unit_of_work",
]
