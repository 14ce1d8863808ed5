"""Answers kept for idempotent requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResponse:
    """The response an API request got, kept under its idempotency key. `request_hash`
    fingerprints the request, so a different request under the same key is told apart."""

    request_hash: str
    status_code: int
    body: str


class IdempotencyRepository(Protocol):
    """Responses kept per customer and `Idempotency-Key` until they expire."""

    def find(self, customer_id: str, key: str, now: datetime) -> StoredResponse | None:
        """The unexpired response stored under `key` for `customer_id`, if any."""
        ...

    def save(
        self, customer_id: str, key: str, response: StoredResponse, *, at: datetime, until: datetime
    ) -> None:
        """Keep `response` until `until`. Raises the store's integrity error if the key
        is taken: a concurrent request with the same key committed first."""
        ...

    def purge_expired(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` responses expired by `now`; returns how many."""
        ...
