"""Benchmarks of the dispatcher, and the workloads they (and the concurrency tests) seed."""
