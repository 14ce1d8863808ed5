"""Use cases, one per module: each takes its dependencies (unit of work, clock, ...) as
keyword arguments and commits through the unit of work."""

__all__ = [
    "claim_due",
    "create_schedule",
    "event_data",
    "execute_claimed",
    "execute_leased",
    "publish_outbox",
    "seal_audit",
    "verify_audit",
]
