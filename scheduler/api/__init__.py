"""The HTTP API for channels and staff: `app` builds it from the `*_routes` modules;
`auth` says who calls, `problems` maps errors to RFC 9457, `exports` streams downloads,
and `schemas` holds the request and response shapes, shared with the CLI."""

__all__ = [
    "app",
    "audit_routes",
    "auth",
    "body_limit",
    "command_schemas",
    "commands",
    "cursors",
    "exports",
    "history_routes",
    "idempotency",
    "operations_routes",
    "ops_routes",
    "ops_schemas",
    "pdf_stream",
    "problems",
    "representation",
    "request_metrics",
    "requests",
    "schedule_routes",
    "schemas",
    "staff",
    "staff_schemas",
    "store_retry",
]
