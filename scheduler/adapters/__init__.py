"""Adapters: one module or subpackage per technology behind a port."""

__all__ = ["cloudevents", "corebanking", "eventhubs", "kafka", "ledger", "sql"]
