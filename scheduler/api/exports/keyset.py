"""Reading a listing to its end a page at a time, by position rather than offset."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

P = TypeVar("P")
T = TypeVar("T")


def pages(
    read: Callable[[P | None, int], Sequence[T]],
    position: Callable[[T], P],
    *,
    page_size: int,
    cap: int,
) -> Iterator[Sequence[T]]:
    """What `read(after, limit)` returns, page by page: the first page from the start
    (`after` None), each next one after the `position` of the last item before it, until
    a short page or `cap` items. Nothing is held between calls, so a caller that reads
    each page in its own transaction keeps none open while the pages are consumed."""
    after: P | None = None
    remaining = cap
    while remaining > 0:
        limit = min(page_size, remaining)
        found = read(after, limit)
        if found:
            yield found
        if len(found) < limit:
            return
        remaining -= len(found)
        after = position(found[-1])
