"""The execute activity warns, as `tsched serve` does, when executing its chunk took
more than half the lease: a little slower and the leases expire mid-chunk, another
claim takes the operations, and after a few rounds they are dead ("claimed too often")."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from durable import activities
from scheduler import bootstrap
from tests.support import api
from tests.support.clock import SettableClock
from tests.support.schedules import create, one_time_transfer
from tests.support.slow_gateway import SlowGateway

DUE = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    runtime = api.migrated_runtime(tmp_path)
    create(runtime.engine, runtime.clock, one_time_transfer("2027-01-04", "10.00"))
    assert isinstance(runtime.clock, SettableClock)
    runtime.clock.advance_to(DUE)
    yield runtime
    runtime.close()


@pytest.mark.parametrize(("took", "warned"), [(timedelta(seconds=31), True), (timedelta(0), False)])
def test_a_chunk_that_takes_over_half_the_lease_is_warned_of(
    runtime: bootstrap.Runtime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    took: timedelta,
    warned: bool,
) -> None:
    assert isinstance(runtime.clock, SettableClock)
    assert runtime.ledger is not None
    slow = dataclasses.replace(runtime, gateway=SlowGateway(runtime.ledger, runtime.clock, took))
    monkeypatch.setattr(bootstrap, "process_runtime", lambda: slow)
    claimed = activities.claim_batch({"owner": "tsched-dispatch:run:0"})
    (chunk,) = claimed["chunks"]

    with caplog.at_level(logging.WARNING, logger="scheduler.runner"):
        result = activities.execute_chunk({"owner": "tsched-dispatch:run:0", "operations": chunk})

    assert result["recorded"] == {"succeeded": 1}
    warnings = [r.getMessage() for r in caplog.records if r.name == "scheduler.runner"]
    assert bool(warnings) is warned
    if warned:
        assert "took 31.0 s of its 60 s lease" in warnings[0]
