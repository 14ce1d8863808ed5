"""What the use-case tests run against: a migrated SQLite file of their own, a clock
at Friday 1 January 2027, 12:00 UTC, and the embedded ledger, where Alice holds
GB-DEBIT-1 (3000.00 GBP) and the bank GB-CREDIT-1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import migrate
from scheduler.adapters.sql.engine import create_engine
from scheduler.domain.money import Money
from tests.support.clock import SettableClock, january

DEBIT = "GB-DEBIT-1"
CREDIT = "GB-CREDIT-1"
OPENING = Money.of("3000.00", "GBP")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'tsched.sqlite3'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(january(1, 12, second=0))


@pytest.fixture
def ledger(engine: sa.Engine, clock: SettableClock) -> Ledger:
    ledger = Ledger(engine, clock)
    ledger.open_account(DEBIT, "alice", "GBP", opening_balance=OPENING)
    ledger.open_account(CREDIT, "bank", "GBP")
    return ledger
