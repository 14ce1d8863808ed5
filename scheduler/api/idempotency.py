"""`Idempotency-Key` on POST: the same key and request get the stored response; the
same key with another request is refused.

The response is kept in the transaction of the change it reports (the use cases'
`before_commit`), so either both exist or neither does. Two concurrent requests with
one key: the second to commit fails on the key, and then replays the first's response.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.domain import definition, errors
from scheduler.ports import StoredResponse, UnitOfWork

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_TTL = timedelta(hours=24)
#: How the OpenAPI document describes `REPLAYED_HEADER`.
REPLAYED_HEADER_DOC = {
    "description": "Present (true) when this is the stored answer to an earlier request "
    "with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


class IdempotencyKeyReused(errors.ValidationError):
    """This Idempotency-Key was used for a different request."""

    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """A response to a POST: its status and JSON body, and whether it is a stored one
    given again."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotentRequest:
    """A POST under `key` by `customer_id`, fingerprinted by `request_hash`."""

    customer_id: str
    key: str
    request_hash: str
    ttl: timedelta = DEFAULT_TTL

    @classmethod
    def of(cls, customer_id: str, key: str, method: str, path: str, body: Any) -> IdempotentRequest:
        """Fingerprint the method, path and JSON body (canonical, so spacing and key order
        do not matter)."""
        text = f"{method} {path}\n{definition.canonical_json(body)}"
        digest = hashlib.sha256(text.encode()).hexdigest()
        return cls(customer_id=customer_id, key=key, request_hash=digest)

    def replay(self, uow: UnitOfWork, now: datetime) -> Answer | None:
        """The stored response to this request, if there is one; raises
        `IdempotencyKeyReused` if the key stored another request's."""
        stored = uow.idempotency.find(self.customer_id, self.key, now)
        if stored is None:
            return None
        if stored.request_hash != self.request_hash:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different request", field=HEADER
            )
        return Answer(status_code=stored.status_code, body=json.loads(stored.body), replayed=True)

    def keep(self, uow: UnitOfWork, answer: Answer, now: datetime) -> None:
        """Store `answer` in `uow`'s transaction."""
        response = StoredResponse(
            request_hash=self.request_hash,
            status_code=answer.status_code,
            body=json.dumps(answer.body, separators=(",", ":")),
        )
        uow.idempotency.save(self.customer_id, self.key, response, at=now, until=now + self.ttl)
