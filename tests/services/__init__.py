"""Real services for the integration tests, each a child process bound to 127.0.0.1.

Each module starts one service on free ports in a temp dir, waits for it with a deadline,
and stops it by its own pid; ``tests/conftest.py`` starts them lazily, once per session.
The programs themselves are installed by ``scripts/test``.
"""

from tests.services import azurite, kafka, postgres, process

__all__ = ["azurite", "kafka", "postgres", "process"]
