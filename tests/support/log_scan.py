"""The run's logs, scanned for leaks: every record at INFO and above, of every test, is
written as `scheduler.logs.JsonFormatter` writes it to `.artifacts/logs/pytest.jsonl`
(`TSCHED_ARTIFACTS` overrides the folder), and when the run ends it fails if a line
holds an account number, an IBAN or a bearer token. The tests' accounts all look like
`GB-DEBIT-1` (`tests/support`), so any of them in a log is a leak."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from scheduler.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
#: What must never be in a log: the tests' account numbers, IBANs, bearer tokens, JWTs.
LEAK = re.compile(
    r"\bGB-[A-Z]+-[A-Z0-9]+\b"
    r"|\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b"
    r"|(?i:bearer)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}"
    r"|\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"
)
_HANDLER = pytest.StashKey[logging.FileHandler]()


def log_path() -> Path:
    base = Path(os.environ.get("TSCHED_ARTIFACTS", ROOT / ".artifacts"))
    return base / "logs" / "pytest.jsonl"


def leaks(lines: Iterable[str]) -> list[str]:
    """The lines that hold something a log must not."""
    return [line for line in lines if LEAK.search(line)]


def pytest_configure(config: pytest.Config) -> None:
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    config.stash[_HANDLER] = handler


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    handler = session.config.stash.get(_HANDLER, None)
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    handler.close()
    found = leaks(log_path().read_text(encoding="utf-8").splitlines())
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.section("leaks in the logs", sep="!", red=True)
            for line in found[:20]:
                reporter.write_line(line[:400])
            reporter.write_line(f"{len(found)} line(s) in {log_path()}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
