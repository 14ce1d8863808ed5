"""The execution history as CSV (RFC 4180, UTF-8), written a page of rows at a time.

The columns are `HistoryEntryOut`'s fields with the amount split into `amount` and
`currency`, each value as the JSON API writes it (masked accounts, decimal strings,
RFC 3339 UTC times). Reasons, actions and references come from outside (the payment
gateway, core banking), so a cell a spreadsheet would run as a formula, one starting
with = + - @, a tab or a carriage return, gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from scheduler.api.schemas import HistoryEntryOut

COLUMNS = (
    "id",
    "operation_id",
    "schedule_id",
    "kind",
    "attempt",
    "status",
    "due_at",
    "started_at",
    "finished_at",
    "amount",
    "currency",
    "debit_account",
    "credit_account",
    "error_code",
    "reason",
    "recommended_action",
    "gateway_reference",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_chunks(pages: Iterable[Sequence[HistoryEntryOut]]) -> Iterator[bytes]:
    """The header row, then the rows of each page as one chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield _drain(buffer)
    for page in pages:
        writer.writerows(_cells(entry) for entry in page)
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


def _cells(entry: HistoryEntryOut) -> list[str]:
    document: dict[str, Any] = entry.model_dump(mode="json")
    amount = document.pop("amount")
    document["amount"], document["currency"] = amount["value"], amount["currency"]
    return [_guarded(document[column]) for column in COLUMNS]


def _guarded(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
