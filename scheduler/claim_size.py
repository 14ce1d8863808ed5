"""How many due operations the dispatcher's next claim takes: as many as it can execute
in a share of their lease at the pace its gateway has shown, never more than the
configured batch size.

A batch's gateway calls run one after another (`adapters.corebanking`), so a batch of
500 on a gateway answering in 50 ms needs 25 s. If its lease is shorter, the leases
expire mid-batch, other workers claim the same operations, and after a few rounds they
are dead, "claimed too often without an outcome": never paid twice, but not paid. The
sizer keeps a batch inside `LEASE_SHARE` of its lease, whatever the gateway's latency.

It starts small (`FIRST_CLAIM`), since a first batch has no pace to go by, and grows at
most twofold a pass, so a burst of quick answers after a slow spell cannot throw it to
a full batch at once; a slow batch shrinks it at once.
"""

from __future__ import annotations

import math
from datetime import timedelta

#: A batch is sized to execute within this share of its lease.
LEASE_SHARE = 0.5
#: The first claim's size, before any batch has shown the gateway's pace.
FIRST_CLAIM = 50


class ClaimSizer:
    """`sizer.limit()` before each claim; `sizer.observe(claimed, took)` after the batch
    has executed."""

    def __init__(self, batch_size: int, lease: timedelta) -> None:
        if batch_size < 1:
            raise ValueError("the batch size must be at least 1")
        self.batch_size = batch_size
        self.budget = lease * LEASE_SHARE
        self._limit = min(batch_size, FIRST_CLAIM)

    def limit(self) -> int:
        """The number of operations the next claim may take."""
        return self._limit

    def observe(self, claimed: int, took: timedelta) -> None:
        """Learn from a batch of `claimed` operations that executed in `took` (an empty
        one teaches nothing). A small batch's pace is taken for a full one's: its fixed
        costs make it the slower per operation, so the estimate errs short."""
        if claimed == 0:
            return
        per_operation = took / claimed
        if per_operation <= timedelta(0):
            fits = self.batch_size
        else:
            fits = math.floor(self.budget / per_operation)
        self._limit = max(1, min(self.batch_size, fits, self._limit * 2))
