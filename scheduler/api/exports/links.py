"""A download answered with a link: the file is written to the export store as it is
made, then the answer is `200` with a JSON `ExportLinkOut` naming a URL that reads it,
without a token, until it expires.

Why 200 with a body, not 303 or 201: a 303 would make most HTTP clients follow it into
Blob storage at once, where a browser's fetch fails (the account allows no cross-origin
requests) and the expiry is never seen; a 201 says a resource of this API was made, but
the file has no address here and goes away on its own. A JSON answer is what a channel
can hand on (a "download" button, an e-mail) and says how long it is good for. The
`Content-Type` (application/json rather than text/csv or application/pdf) tells it from
a file answered directly.

The file's name in the store is a random id under `history/`: the URL ends up in
browser histories and proxy logs, so it names no customer; the file name offered when
it is fetched (`history-<customer>-<time>.csv`) is stored with the file instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from scheduler import ports
from scheduler.api import problems

#: Seconds the client is told to wait before asking again when the store failed.
RETRY_AFTER = 5


class ExportLinkOut(BaseModel):
    """Where a download was written, and until when it can be fetched there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        description="GET this URL, with no Authorization header, to download the file. "
        "It is a secret until it expires: it grants access by itself."
    )
    expires_at: datetime = Field(description="The URL works until this instant (whole seconds).")
    filename: str = Field(description="The file name offered when it is downloaded.")
    media_type: str = Field(description="The file's media type: text/csv or application/pdf.")
    size: int = Field(description="The file's size in bytes.")


def new_name(extension: str) -> str:
    """A fresh name for a download in the store: `history/<random UUID>.<extension>`."""
    return f"history/{uuid.uuid4()}.{extension}"


def answer(
    store: ports.ExportStore,
    name: str,
    chunks: Iterator[bytes],
    *,
    media_type: str,
    filename: str,
    clock: ports.Clock,
    lifetime: timedelta,
) -> Response:
    """Write `chunks` to `store` as `name`, then answer with a link that expires
    `lifetime` after it was signed; a store that fails is a 503 problem (`retry`: true,
    with `Retry-After`). Neither answer may be cached: the link is a credential."""
    try:
        size = store.save(name, chunks, media_type=media_type, filename=filename)
        now = clock.now()
        expires_at = _whole_seconds(now + lifetime)
        url = store.link(name, now=now, expires_at=expires_at)
    except ports.ExportStoreUnavailable as error:
        response: Response = problems.problem(
            503,
            error.code,
            "The store of large downloads does not answer; try again shortly.",
            error.message,
            extra={"code": error.code, "retry": True},
        )
        response.headers["Retry-After"] = str(RETRY_AFTER)
    else:
        link = ExportLinkOut(
            url=url, expires_at=expires_at, filename=filename, media_type=media_type, size=size
        )
        response = JSONResponse(link.model_dump(mode="json"))
    response.headers["Cache-Control"] = "no-store"
    return response


def _whole_seconds(moment: datetime) -> datetime:
    """`moment` without its fraction of a second: a SAS's expiry has none, so the time
    the answer states is the time the link stops working."""
    return moment.replace(microsecond=0)
