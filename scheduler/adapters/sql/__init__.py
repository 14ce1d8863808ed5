"""The SQL store behind the ports, on SQLite, PostgreSQL and Azure SQL: every table once
(`tables`), each statement by name (`statements`, per-dialect SQL in `dialects`), the
repositories and the unit of work over them, and the schema's history (`migrate`, which
runs Alembic's scripts in `migrations/`, a directory of data rather than a package)."""

__all__ = [
    "archive_marks",
    "audit",
    "bulk",
    "dialects",
    "engine",
    "figures",
    "history",
    "idempotency",
    "migrate",
    "operations",
    "outbox",
    "schedules",
    "statements",
    "tables",
    "transient",
    "types",
    "unit_of_work",
]
