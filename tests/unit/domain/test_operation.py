"""The operation state machine, written out in full: this table is the specification."""

from __future__ import annotations

import itertools

import pytest

from scheduler.domain import errors, operation

Status = operation.OperationStatus

#: Row: the current status; "x": the move to the column's status is legal; ".": it is not.
TRANSITIONS = """
               pending  claimed  succeeded  retry_wait  failed  dead  skipped  cancelled
pending        .        x        .          .           .       .     x        x
claimed        .        x        x          x           x       x     x        .
succeeded      .        .        .          .           .       .     .        .
retry_wait     .        x        .          .           .       .     x        x
failed         x        .        .          .           .       .     .        .
dead           x        .        .          .           .       .     .        .
skipped        .        .        .          .           .       .     .        .
cancelled      .        .        .          .           .       .     .        .
"""


def _table() -> dict[tuple[Status, Status], bool]:
    header, *rows = TRANSITIONS.strip().splitlines()
    columns = [Status(name) for name in header.split()]
    table = {}
    for row in rows:
        name, *cells = row.split()
        assert len(cells) == len(columns), row
        for column, cell in zip(columns, cells, strict=True):
            table[Status(name), column] = cell == "x"
    return table


LEGAL = _table()
PAIRS = list(itertools.product(Status, repeat=2))


def test_the_table_covers_every_pair_of_statuses() -> None:
    assert set(LEGAL) == set(PAIRS)
    assert len(LEGAL) == len(Status) ** 2 == 64


@pytest.mark.parametrize(
    ("current", "requested"),
    [pair for pair in PAIRS if LEGAL[pair]],
    ids=lambda status: status.value,
)
def test_a_legal_transition_returns_the_requested_status(
    current: Status, requested: Status
) -> None:
    assert operation.can_transition(current, requested)
    assert operation.transition(current, requested) is requested


@pytest.mark.parametrize(
    ("current", "requested"),
    [pair for pair in PAIRS if not LEGAL[pair]],
    ids=lambda status: status.value,
)
def test_an_illegal_transition_raises_naming_both_statuses(
    current: Status, requested: Status
) -> None:
    assert not operation.can_transition(current, requested)
    with pytest.raises(errors.IllegalTransition) as raised:
        operation.transition(current, requested, operation_id="op-42")
    error = raised.value
    assert (error.current, error.requested, error.operation_id) == (
        current.value,
        requested.value,
        "op-42",
    )
    assert error.code == "illegal_transition"
    assert error.details == {
        "current": current.value,
        "requested": requested.value,
        "operation_id": "op-42",
    }
    assert str(error) == f"an operation in status {current} cannot become {requested}"


def test_final_statuses_are_left_only_by_re_driving_failed_or_dead_operations() -> None:
    final = {Status.SUCCEEDED, Status.FAILED, Status.DEAD, Status.SKIPPED, Status.CANCELLED}
    assert final == operation.FINAL
    exits = {(current, requested) for (current, requested), legal in LEGAL.items() if legal}
    exits_from_final = {pair for pair in exits if pair[0] in operation.FINAL}
    assert exits_from_final == {(Status.FAILED, Status.PENDING), (Status.DEAD, Status.PENDING)}


def test_only_pending_and_retry_wait_operations_are_claimable() -> None:
    claimable = {Status.PENDING, Status.RETRY_WAIT}
    assert claimable == operation.CLAIMABLE
    for status in Status:
        assert operation.can_transition(status, Status.CLAIMED) == (
            status in operation.CLAIMABLE or status is Status.CLAIMED
        )


def test_an_illegal_transition_without_an_operation_id_says_so() -> None:
    with pytest.raises(errors.IllegalTransition) as raised:
        operation.transition(Status.SUCCEEDED, Status.PENDING)
    assert raised.value.operation_id is None
