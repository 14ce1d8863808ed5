"""The JSON the orchestrations and activities pass each other: ids and counts, never
domain objects, so a history replays whatever the code version that reads it.

Each shape is a `TypedDict` (what is on the wire is a plain JSON object), with the
functions that build the ones that need work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

#: The `lease_owner` column's width.
MAX_LEASE_OWNER = 64


class ClaimRequest(TypedDict):
    owner: str


class ClaimResult(TypedDict):
    """What a claim leased: every id once, in chunks of `DISPATCH_CHUNK_SIZE`; `full`
    when it took as many as it may, so more may be waiting."""

    claimed: int
    full: bool
    chunks: list[list[str]]


class DispatchState(TypedDict):
    """The dispatch orchestration's input: which run and first batch this generation
    is, that batch as the generation before claimed it (None: claim it first), and when
    the audit trail was last sealed (RFC 3339, or None)."""

    run: str | None
    batch: int
    claimed: ClaimResult | None
    sealed_at: str | None


class ExecuteRequest(TypedDict):
    owner: str
    operations: list[str]


class ExecuteResult(TypedDict):
    """Outcomes recorded by status, leases found lost (the operation was not
    executed or its outcome not recorded here), and outcomes that failed to record."""

    recorded: dict[str, int]
    lost_leases: int
    errors: int


class SealResult(TypedDict):
    sealed: int


class PurgeResult(TypedDict):
    purged: int


class PublishResult(TypedDict):
    """Events the bus acknowledged in this activity; `more` when the outbox still had
    a full batch waiting when the activity's time ran out."""

    published: int
    more: bool


class DispatchSummary(TypedDict):
    """What one generation of the dispatch orchestration did: its output."""

    run: str
    batches: list[int]
    claimed: int
    recorded: dict[str, int]
    lost_leases: int
    errors: int
    sealed: int
    continued: bool


def dispatch_state(given: Any) -> DispatchState:
    """The orchestration input `given`, or the state of a first generation when the
    starter gave none."""
    if given is None:
        return DispatchState(run=None, batch=0, claimed=None, sealed_at=None)
    if not isinstance(given, dict) or not isinstance(given.get("batch"), int):
        raise ValueError(f"not a dispatch state: {given!r}")
    return DispatchState(
        run=given.get("run"),
        batch=given["batch"],
        claimed=given.get("claimed"),
        sealed_at=given.get("sealed_at"),
    )


def lease_owner(instance_id: str, run: str, batch: int) -> str:
    """The lease owner of one claimed batch: the orchestration instance, the run (one
    per start by the timer; it survives continue-as-new) and the batch number.

    Every activity of the batch, on whichever instance it runs, records under this
    name; a later run, or a later batch of this one, never has the same one."""
    owner = f"{instance_id}:{run}:{batch}"
    if len(owner) > MAX_LEASE_OWNER:
        raise ValueError(f"lease owner {owner!r} is longer than {MAX_LEASE_OWNER} characters")
    return owner


def instant(text: str | None) -> datetime | None:
    """An RFC 3339 instant carried in a state, back as an aware datetime."""
    return None if text is None else datetime.fromisoformat(text)
