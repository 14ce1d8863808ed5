"""tsched: a scheduling platform for a bank's money movements."""

__all__ = [
    "adapters",
    "api",
    "archiver",
    "backoff",
    "bootstrap",
    "claim_size",
    "cli",
    "clocks",
    "config",
    "demo",
    "domain",
    "logs",
    "metrics",
    "ports",
    "progress",
    "relay",
    "runner",
    "service",
    "telemetry",
    "tracing",
]
