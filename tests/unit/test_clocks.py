"""The clocks: the system one, the accelerated one of `tsched serve --speed`, and the
stepping one of `tsched demo`."""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduler import clocks
from scheduler.clocks import AcceleratedClock, SteppingClock, SystemClock

START = datetime(2027, 1, 25, 8, 0, tzinfo=UTC)
TOKYO = timezone(timedelta(hours=9))


class FakeMonotonic:
    """`time.monotonic` a test moves by hand."""

    def __init__(self, seconds: float = 1000.0) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    """The monotonic clock `scheduler.clocks` reads, set by the test (only that module's
    view of `time` is replaced, not the process's)."""
    fake = FakeMonotonic()
    monkeypatch.setattr(clocks, "time", types.SimpleNamespace(monotonic=fake))
    return fake


def test_system_clock_reads_the_machine_clock_in_utc() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after


def test_accelerated_clock_starts_at_its_start(monotonic: FakeMonotonic) -> None:
    assert AcceleratedClock(START, 60).now() == START


@pytest.mark.parametrize(
    ("factor", "real_seconds", "simulated"),
    [
        (60.0, 10.0, timedelta(minutes=10)),
        (3600.0, 24.0, timedelta(days=1)),
        (1.0, 2.5, timedelta(seconds=2.5)),
        (0.5, 10.0, timedelta(seconds=5)),
    ],
)
def test_accelerated_clock_runs_factor_times_faster_than_real_time(
    monotonic: FakeMonotonic, factor: float, real_seconds: float, simulated: timedelta
) -> None:
    clock = AcceleratedClock(START, factor)
    monotonic.seconds += real_seconds
    assert clock.now() == START + simulated
    assert clock.real_seconds(simulated) == pytest.approx(real_seconds)


def test_accelerated_clock_stands_still_while_monotonic_time_does(
    monotonic: FakeMonotonic,
) -> None:
    clock = AcceleratedClock(START, 60)
    monotonic.seconds += 1
    first = clock.now()
    assert clock.now() == first == START + timedelta(minutes=1)


def test_accelerated_clock_answers_in_utc_whatever_the_start_offset(
    monotonic: FakeMonotonic,
) -> None:
    clock = AcceleratedClock(datetime(2027, 1, 25, 17, 0, tzinfo=TOKYO), 2)
    monotonic.seconds += 30
    now = clock.now()
    assert now.tzinfo is UTC
    assert now == datetime(2027, 1, 25, 8, 1, tzinfo=UTC)


def test_accelerated_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AcceleratedClock(datetime(2027, 1, 25, 8, 0), 60)  # noqa: DTZ001


@pytest.mark.parametrize("factor", [0.0, -1.0, -0.001])
def test_accelerated_clock_refuses_a_factor_that_is_not_positive(factor: float) -> None:
    with pytest.raises(ValueError, match="factor must be positive"):
        AcceleratedClock(START, factor)


def test_stepping_clock_stands_still_until_advanced() -> None:
    clock = SteppingClock(START)
    assert clock.now() == clock.now() == START
    clock.advance_to(START + timedelta(days=3))
    assert clock.now() == START + timedelta(days=3)


@pytest.mark.parametrize(
    "moment",
    [START - timedelta(seconds=1), START - timedelta(days=400), START],
    ids=["a second earlier", "a year earlier", "the same instant"],
)
def test_stepping_clock_never_goes_backwards(moment: datetime) -> None:
    clock = SteppingClock(START)
    clock.advance_to(moment)
    assert clock.now() == START


def test_stepping_clock_keeps_its_latest_time_after_a_backward_step() -> None:
    clock = SteppingClock(START)
    later = START + timedelta(hours=5)
    clock.advance_to(later)
    clock.advance_to(START + timedelta(hours=1))
    assert clock.now() == later


def test_stepping_clock_converts_to_utc() -> None:
    clock = SteppingClock(datetime(2027, 1, 25, 17, 0, tzinfo=TOKYO))
    assert clock.now().tzinfo is UTC
    assert clock.now() == START
    clock.advance_to(datetime(2027, 2, 15, 10, 0, tzinfo=TOKYO))
    assert clock.now() == datetime(2027, 2, 15, 1, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_stepping_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SteppingClock(datetime(2027, 1, 25, 8, 0))  # noqa: DTZ001
