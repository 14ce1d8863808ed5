"""Where large downloads are written for a link."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from scheduler.domain.errors import SchedulerError


class ExportStoreUnavailable(SchedulerError):
    """The store of large downloads could not be written or asked for a link; try
    again shortly."""

    code = "export_store_unavailable"


class ExportStore(Protocol):
    """Where a download too large to answer in one response is written, to be fetched
    through a link that expires (Blob storage; DESIGN.md, "Azure"). The store deletes
    what it holds on its own after a while (a day in Azure), whether fetched or not.

    Both methods raise `ExportStoreUnavailable` when the store cannot be reached or
    refuses the request."""

    def save(self, name: str, chunks: Iterable[bytes], *, media_type: str, filename: str) -> int:
        """Write the bytes of `chunks`, in order, as the file `name`, holding only a
        bounded part of them in memory at a time; returns how many bytes were written.
        Nothing is visible under `name` until the last chunk is written: a failure
        (of the store or of `chunks`) leaves no file. Whoever fetches it is offered
        `filename` and `media_type`. `name` is the caller's, and should say nothing
        about the caller's customer (a random id): it ends up in a URL."""
        ...

    def link(self, name: str, *, now: datetime, expires_at: datetime) -> str:
        """A URL that reads the file `name`, and nothing else, without other credentials
        from `now` until `expires_at`. The URL is itself the credential: it must not be
        logged."""
        ...
