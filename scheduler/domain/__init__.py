"""The scheduling domain: pure rules, no I/O. Import its modules, e.g.
``from scheduler.domain import money`` then ``money.Money``."""

__all__ = [
    "calendar",
    "currency",
    "errors",
    "localtime",
    "money",
    "operation",
    "plan",
    "recurrence",
    "reminder",
    "schedule",
]
