"""Benchmarks of the dispatcher, and the workloads they (and the concurrency tests) seed."""

__all__ = [
    "api",
    "dispatch",
    "durable",
    "export_memory",
    "fault_harness",
    "faults",
    "workload",
]
