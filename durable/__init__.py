"""Blueprint of the Durable Functions that dispatch due operations (DESIGN.md, "Azure").

It will hold, each a thin deterministic shell over `scheduler.service`:

- a timer starter on `%DISPATCH_SCHEDULE%` (UTC) that starts the singleton dispatch
  orchestration under a fixed instance id (`get_status`, then `start_new`, tolerating
  the race with a concurrent starter);
- the dispatch orchestrator: claim a batch, fan out execution in chunks, fan in,
  publish the outbox, continue as new while work remains;
- the activities behind those steps, each executing several operations.

They need the engine (claim and execute), which does not exist yet, so the blueprint is
empty; `main.py` registers it already.
"""

from __future__ import annotations

import azure.durable_functions as df

__all__ = ["blueprint"]

blueprint = df.Blueprint()
"""The Durable Functions of tsched; empty until the dispatcher lands."""
