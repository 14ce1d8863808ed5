"""A payment gateway whose transfers take a set time each on a test's clock (one after
another, as `adapters.corebanking` makes them), for tests of what a slow gateway does to
leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from scheduler.ports import PaymentGateway, TransferRequest, TransferResult
from tests.support.clock import SettableClock


class SlowGateway:
    """Moves `clock` on by `took` for each transfer asked for, then lets `gateway`
    answer."""

    def __init__(self, gateway: PaymentGateway, clock: SettableClock, took: timedelta) -> None:
        self._gateway, self._clock, self._took = gateway, clock, took

    def transfer_many(self, requests: Sequence[TransferRequest]) -> list[TransferResult]:
        self._clock.advance_to(self._clock.now() + self._took * len(requests))
        return self._gateway.transfer_many(requests)
