"""Running `tsched` in-process and reading the tables it prints."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from scheduler import bootstrap, cli
from scheduler.adapters.sql import migrate
from scheduler.config import Settings
from scheduler.domain.money import Money
from tests.support.clock import SettableClock


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `tsched argv...`."""
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def columns(table: str) -> dict[str, tuple[str, ...]]:
    """A printed table's cells by column, each cut where its header starts."""
    header, *rows = table.splitlines()
    starts = [match.start() for match in re.finditer(r"(?:^|(?<=  ))\S", header)]
    bounds = list(itertools.pairwise([*starts, None]))
    names = [header[begin:end].strip() for begin, end in bounds]
    cells = [tuple(row[begin:end].strip() for row in rows) for begin, end in bounds]
    return dict(zip(names, cells, strict=True))


def store_in_environment(
    path: Path, monkeypatch: pytest.MonkeyPatch, clock: SettableClock
) -> bootstrap.Runtime:
    """A runtime on a migrated SQLite file at `path` that DATABASE_URL names (as `tsched`
    reads it), where Alice holds GB-DEBIT-1 (1,000.00 GBP) and the bank GB-CREDIT-1."""
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    runtime = bootstrap.build(Settings(database_url=url), clock=clock, worker="worker-1")
    migrate.upgrade(runtime.engine)
    assert runtime.ledger is not None
    runtime.ledger.open_account(
        "GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("1000.00", "GBP")
    )
    runtime.ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    return runtime
