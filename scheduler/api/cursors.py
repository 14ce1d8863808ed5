"""Opaque pagination cursors: a position (instant, id) in a listing, as a URL-safe
string the client hands back unchanged."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from scheduler.domain import errors

K = TypeVar("K")
T = TypeVar("T")


class InvalidCursor(errors.ValidationError):
    """The cursor is not one this API returned."""

    code = "invalid_cursor"


def page(
    found: Sequence[T], limit: int, position: Callable[[T], tuple[datetime, object]]
) -> tuple[Sequence[T], str | None]:
    """The first `limit` items of `found` (fetched with `limit + 1`, to know whether more
    follow) and the cursor after them, or None on the last page."""
    items = found[:limit]
    if len(found) <= limit:
        return items, None
    return items, encode(*position(items[-1]))


def encode(at: datetime, key: object) -> str:
    """The cursor after the item `key` of time `at`."""
    text = f"{at.isoformat()}|{key}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, key: Callable[[str], K]) -> tuple[datetime, K]:
    """The position a cursor stands for, its key parsed by `key`; raises `InvalidCursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, _, text = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, key(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(field="cursor") from None
