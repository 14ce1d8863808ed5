"""The scheduling domain: pure rules, no I/O. Import its modules, e.g.
``from scheduler.domain import money`` then ``money.Money``."""

__all__ = [
    "audit",
    "calendar",
    "currency",
    "definition",
    "errors",
    "events",
    "localtime",
    "money",
    "occurrence",
    "operation",
    "plan",
    "recurrence",
    "reminder",
    "retry",
    "schedule",
    "text",
]
