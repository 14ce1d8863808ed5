"""`ClaimSizer`: a claim is sized so that its batch executes within half its lease at
the gateway's pace, starting small and growing at most twofold a pass."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.claim_size import FIRST_CLAIM, ClaimSizer

LEASE = timedelta(seconds=60)


def _pace(sizer: ClaimSizer, per_operation: timedelta, passes: int) -> list[int]:
    """The limits of `passes` full batches at `per_operation` each."""
    limits = []
    for _ in range(passes):
        limit = sizer.limit()
        limits.append(limit)
        sizer.observe(limit, per_operation * limit)
    return limits


def test_the_first_claim_is_small_and_a_fast_gateway_grows_it_twofold_to_the_batch_size() -> None:
    sizer = ClaimSizer(500, LEASE)
    assert _pace(sizer, timedelta(milliseconds=1), 6) == [FIRST_CLAIM, 100, 200, 400, 500, 500]


def test_a_batch_size_below_the_first_claim_is_the_first_claim() -> None:
    assert ClaimSizer(10, LEASE).limit() == 10


def test_a_slow_gateway_keeps_the_batch_within_half_the_lease() -> None:
    # 200 ms a transfer: 30 s (half the lease) holds 150.
    sizer = ClaimSizer(500, LEASE)
    assert _pace(sizer, timedelta(milliseconds=200), 5) == [50, 100, 150, 150, 150]


def test_a_gateway_slowing_down_shrinks_the_next_claim_at_once() -> None:
    sizer = ClaimSizer(500, LEASE)
    _pace(sizer, timedelta(milliseconds=1), 5)
    sizer.observe(500, timedelta(seconds=100))  # 200 ms each
    assert sizer.limit() == 150


def test_a_gateway_slower_than_the_lease_still_claims_one() -> None:
    sizer = ClaimSizer(500, LEASE)
    sizer.observe(50, timedelta(minutes=100))
    assert sizer.limit() == 1


@pytest.mark.parametrize("took", [timedelta(0), timedelta(seconds=-1)])
def test_a_batch_that_took_no_time_counts_as_fast(took: timedelta) -> None:
    sizer = ClaimSizer(500, LEASE)
    sizer.observe(50, took)
    assert sizer.limit() == 100


def test_an_empty_batch_teaches_nothing() -> None:
    sizer = ClaimSizer(500, LEASE)
    sizer.observe(0, timedelta(hours=1))
    assert sizer.limit() == FIRST_CLAIM


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ClaimSizer(0, LEASE)
