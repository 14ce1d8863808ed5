"""Adapters: one module or subpackage per technology behind a port."""

__all__ = [
    "blob_exports",
    "cloudevents",
    "corebanking",
    "cosmos",
    "eventhubs",
    "kafka",
    "ledger",
    "servicebus",
    "sql",
]
