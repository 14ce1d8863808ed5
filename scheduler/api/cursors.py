"""Opaque pagination cursors: a position (instant, id) in a listing, as a URL-safe
string the client hands back unchanged."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from scheduler.domain import errors


class InvalidCursor(errors.ValidationError):
    """The cursor is not one this API returned."""

    code = "invalid_cursor"


def encode(at: datetime, item_id: UUID) -> str:
    """The cursor after the item `item_id` of time `at`."""
    text = f"{at.isoformat()}|{item_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor stands for; raises `InvalidCursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, _, item_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, UUID(item_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(field="cursor") from None
