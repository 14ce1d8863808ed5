"""The SQL that differs by database, one module per dialect, each exposing the same
statements under the same names."""

__all__ = ["mssql", "postgresql", "sqlite"]
