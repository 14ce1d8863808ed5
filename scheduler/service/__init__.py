"""Use cases, one per module: each takes its dependencies (unit of work, clock, ...) as
keyword arguments and commits through the unit of work."""

__all__ = [
    "amend_schedule",
    "change_schedule_status",
    "claim_due",
    "create_schedule",
    "event_data",
    "execute_claimed",
    "execute_leased",
    "hot_window",
    "ledger_accounts",
    "operations_status",
    "project_archive",
    "publish_outbox",
    "purge_expired_responses",
    "purge_hot_window",
    "read_audit_trail",
    "read_schedule",
    "record_read",
    "redrive_operation",
    "seal_audit",
    "send_dead_operations",
    "verify_audit",
]
