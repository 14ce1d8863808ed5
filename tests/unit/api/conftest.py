"""What the API tests share: a runtime on a migrated SQLite file (its clock at NOW), a
development signer, a client of the app that trusts it, and request headers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scheduler import bootstrap
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from tests.support import api

NOW = api.NOW
BOBS_ACCOUNT = api.BOBS_ACCOUNT
#: Makes request headers: a customer's bearer token, and an Idempotency-Key if given.
Headers = Callable[..., dict[str, str]]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    runtime = api.migrated_runtime(tmp_path)
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
