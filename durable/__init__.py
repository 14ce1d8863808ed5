"""Blueprint of the Durable Functions that dispatch due operations (DESIGN.md, "Azure").

Thin and deterministic over `scheduler.service`, the same calls `tsched serve` loops over:

- `starter`: a timer on `%DISPATCH_SCHEDULE%` (UTC) that keeps the two singleton
  orchestrations running;
- `orchestrators`: dispatch (claim a batch, fan execution out in chunks, fan in, seal
  the audit trail, continue as new while the claim was full) and relay (publish the
  outbox to Kafka, apart, so a broker outage never delays a payment);
- `activities`: one use case each, passing ids and counts as JSON;
- `archive`: the archive timer (history and audit to Cosmos DB, purge of SQL's rows
  past the hot window), registered once README lists its function.

Nothing is built at import: the runtime is built by the first activity on a worker.
"""

from __future__ import annotations

import azure.durable_functions as df

from durable import activities, archive, orchestrators, starter

__all__ = [
    "activities",
    "archive",
    "blueprint",
    "messages",
    "names",
    "orchestrators",
    "starter",
]

blueprint = df.Blueprint()
"""The Durable Functions of tsched."""

starter.register(blueprint)
orchestrators.register(blueprint)
activities.register(blueprint)
archive.register(blueprint)
