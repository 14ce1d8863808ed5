"""What the API tests share: a runtime on a migrated SQLite file (its clock at NOW), a
development signer, a client of the app that trusts it, and request headers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.adapters.sql import migrate
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.config import Settings
from scheduler.domain.money import Money
from tests.support.clock import SettableClock

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
#: Alice holds GB-DEBIT-1 (MORTGAGE's debit account), Bob this one; both hold 500.00.
BOBS_ACCOUNT = "GB-DEBIT-B"
#: Makes request headers: a customer's bearer token, and an Idempotency-Key if given.
Headers = Callable[..., dict[str, str]]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite3'}")
    runtime = bootstrap.build(settings, clock=SettableClock(NOW), worker="api-test")
    migrate.upgrade(runtime.engine)
    ledger = runtime.ledger
    assert ledger is not None
    ledger.open_account("GB-DEBIT-1", "alice", "GBP", opening_balance=Money.of("500.00", "GBP"))
    ledger.open_account(BOBS_ACCOUNT, "bob", "GBP", opening_balance=Money.of("500.00", "GBP"))
    ledger.open_account("GB-CREDIT-1", "bank", "GBP")
    yield runtime
    runtime.close()


@pytest.fixture
def signer(tmp_path: Path) -> DevelopmentSigner:
    return DevelopmentSigner(tmp_path / "keys")


@pytest.fixture
def client(runtime: bootstrap.Runtime, signer: DevelopmentSigner) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, signer.verifier())) as client:
        yield client


@pytest.fixture
def headers(signer: DevelopmentSigner) -> Headers:
    def make(customer: str = "alice", key: str | None = None, **extra: str) -> dict[str, str]:
        token = signer.issue(customer, [Role.CUSTOMER], customer_id=customer)
        result = {"Authorization": f"Bearer {token}", **extra}
        if key is not None:
            result["Idempotency-Key"] = key
        return result

    return make
