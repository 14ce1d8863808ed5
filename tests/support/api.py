"""What tests of the HTTP API start from: a runtime on a migrated SQLite file, its clock
at NOW, where Alice holds GB-DEBIT-1 and Bob BOBS_ACCOUNT (500.00 GBP each) and the bank
GB-CREDIT-1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.config import Settings
from scheduler.domain.money import Money
from tests.support.clock import SettableClock

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
BOBS_ACCOUNT = "GB-DEBIT-B"
#: The store's file name in the directory given.
STORE_FILE = "api.sqlite3"


def migrated_runtime(directory: Path) -> bootstrap.Runtime:
    """The runtime, its store a new file in `directory`; the caller closes it."""
    settings = Settings(database_url=f"sqlite:///{directory / STORE_FILE}")
    runtime = bootstrap.build(settings, clock=SettableClock(NOW), worker="api-test")
    migrate.upgrade(runtime.engine)
    ledger = runtime.ledger
    assert ledger is not None
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("500.00", "GBP"))
    ledger.open_account(BOBS_ACCOUNT, "bob", "GBP", opening_balance=Money.of("500.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    return runtime
