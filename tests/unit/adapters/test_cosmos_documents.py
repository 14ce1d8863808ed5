"""The archive's items: text that sorts as the values do, partitions, time to live, and
records that hash after the round trip exactly as they were sealed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from scheduler.adapters.cosmos import documents
from scheduler.domain import audit
from tests.support.archive_items import attempt, entry, sealed

AMOUNTS = st.decimals(
    min_value=Decimal("-999999999999999.9999"),
    max_value=Decimal("999999999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@given(AMOUNTS, AMOUNTS)
def test_amount_keys_compare_as_the_amounts_do(a: Decimal, b: Decimal) -> None:
    assert (documents.amount_key(a) < documents.amount_key(b)) == (a < b)
    assert (documents.amount_key(a) == documents.amount_key(b)) == (a == b)


@given(AMOUNTS, st.decimals(min_value=-(10**16), max_value=10**16, allow_nan=False, places=7))
def test_a_bound_keeps_exactly_the_amounts_it_should(amount: Decimal, bound: Decimal) -> None:
    key = documents.amount_key(amount)
    least = documents.amount_bound(bound, least=True)
    greatest = documents.amount_bound(bound, least=False)

    assert (least is not None and key >= least) == (amount >= bound)
    assert greatest is not None
    assert (key <= greatest) == (amount <= bound)


def test_a_greatest_bound_below_every_amount_keeps_none_and_a_least_one_keeps_all() -> None:
    # Found by the property above: a greatest bound just under the least amount the
    # store holds was clamped onto that amount's key, and kept it.
    smallest = Decimal("-999999999999999.9999")
    below = smallest - Decimal("0.0000001")

    assert documents.amount_key(smallest) > documents.amount_bound(below, least=False)
    assert documents.amount_key(smallest) >= documents.amount_bound(below, least=True)


#: Hypothesis takes naive bounds and attaches `timezones` to what it draws.
INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(INSTANTS)
def test_instants_round_trip_and_sort_as_text(moment: datetime) -> None:
    later = moment + timedelta(microseconds=1)

    assert documents.parse_instant(documents.instant(moment)) == moment
    assert documents.instant(moment) < documents.instant(later)


def test_the_time_to_live_counts_from_when_it_happened_and_is_at_least_a_second() -> None:
    happened = datetime(2027, 1, 1, tzinfo=UTC)
    retention = timedelta(days=audit.RETENTION_DAYS)

    assert documents.ttl(happened, now=happened, retention=retention) == 2562 * 86400
    assert documents.ttl(happened, now=happened + timedelta(days=2), retention=retention) == (
        2560 * 86400
    )
    assert documents.ttl(happened, now=happened + retention * 2, retention=retention) == 1


def test_partitions_keep_a_customer_together_spread_the_rest_by_month_and_block_range() -> None:
    assert documents.record_partition(entry(1)) == "customer:customer-1"
    assert documents.record_partition(entry(1, customer_id=None)) == "system:2026-01"
    assert documents.block_partition(9_999) == "blocks:0"
    assert documents.block_partition(10_000) == "blocks:1"


def test_items_read_back_as_the_attempt_record_and_block_they_hold() -> None:
    stored = attempt(7, amount="123456789012345.67")
    block, records = sealed(
        [entry(1, details={"big": 2**80, "ratio": 0.1, "text": "Zürich", "none": None})]
    )

    record = documents.record_of(documents.record_item(records[0], ttl_seconds=1))

    assert documents.attempt_entry(documents.attempt_item(stored, ttl_seconds=1)) == stored.entry
    assert record == records[0]
    assert audit.record_hash(record) == audit.record_hash(records[0])
    assert documents.block_of(documents.block_item(block, ttl_seconds=1)) == block
