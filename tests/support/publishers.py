"""An event publisher for tests that records what it was given."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.domain.events import StoredEvent


class RecordingPublisher:
    """An `EventPublisher` that records each batch and confirms every event except
    those whose outbox ids are in `unconfirmed` (the bus did not acknowledge them)."""

    def __init__(self) -> None:
        self.batches: list[list[StoredEvent]] = []
        self.unconfirmed: set[int] = set()

    def publish(self, events: Sequence[StoredEvent]) -> list[int]:
        self.batches.append(list(events))
        return [stored.outbox_id for stored in events if stored.outbox_id not in self.unconfirmed]
