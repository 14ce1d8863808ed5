"""Progress on one terminal line: count, total and share, rate and time left, redrawn
at most every interval, ended with a newline; nothing at all when not on a terminal."""

from __future__ import annotations

import io

from scheduler.progress import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_says_how_many_of_how_many_how_fast_and_how_long_is_left() -> None:
    clock = _Clock()
    progress = Progress("seeding", total=10_000, unit="schedules", clock=clock, enabled=False)
    clock.now += 2.0
    progress.set(2_500)

    assert progress.line() == "seeding: 2,500/10,000 schedules (25%), 1,250/s, 6 s left"


def test_without_a_total_the_line_is_a_counter_with_a_rate() -> None:
    clock = _Clock()
    progress = Progress("executing", unit="attempts", clock=clock, enabled=False)
    clock.now += 4.0
    progress.set(1_000)

    assert progress.line() == "executing: 1,000 attempts, 250/s"


def test_it_redraws_in_place_at_most_every_interval_and_ends_the_line() -> None:
    clock, stream = _Clock(), io.StringIO()
    with Progress("x", total=3, stream=stream, clock=clock, enabled=True, interval=1.0) as p:
        p.advance()
        clock.now += 0.5
        p.advance()  # too soon: not drawn
        clock.now += 0.6
        p.advance()

    drawn = stream.getvalue()
    assert drawn.count("\r\033[K") == 3  # two draws and the final line
    assert drawn.endswith("x: 3/3 (100%), 3/s\n")
    assert "2/3" not in drawn


def test_nothing_is_written_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("x", total=2, stream=stream) as progress:
        progress.advance(2)

    assert stream.getvalue() == ""


def test_clearing_erases_the_line_and_the_next_count_draws_it_again_at_once() -> None:
    clock, stream = _Clock(), io.StringIO()
    progress = Progress("x", total=3, stream=stream, clock=clock, enabled=True, interval=60.0)
    clock.now += 1.0
    progress.advance()
    progress.clear()
    stream.write("an event\n")
    progress.advance()  # within the interval, yet drawn: the line was erased

    assert stream.getvalue() == (
        "\r\033[Kx: 1/3 (33%), 1/s, 2 s left\r\033[Kan event\n\r\033[Kx: 2/3 (67%), 2/s, 0 s left"
    )
