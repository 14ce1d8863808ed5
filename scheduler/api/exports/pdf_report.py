"""The execution history as a PDF report, a page sent as soon as it is full.

The first page opens with the document header (title, customer, filters, generation
time); every page repeats a running head and the column headings, and ends with its page
number. The table shows what a customer reads on paper; the CSV export has every field.
Times are UTC to the second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from scheduler.api.pdf_stream import A4_LANDSCAPE, Canvas, Font, PdfStream, encode, fit
from scheduler.api.schemas import HistoryEntryOut

TITLE = "Execution history"
_WIDTH, _HEIGHT = A4_LANDSCAPE
_MARGIN = 36.0
_TOP = _HEIGHT - _MARGIN
_BODY_SIZE = 7.0
_ROW_HEIGHT = 10.0
_HEADING_HEIGHT = 14.0
_PADDING = 2.0
#: Top of the table on the first page, below the document header, and on the others.
_FIRST_TABLE_TOP = _TOP - 70
_TABLE_TOP = _TOP - 20


@dataclass(frozen=True, slots=True)
class _Column:
    heading: str
    width: float
    value: Callable[[HistoryEntryOut], str | None]
    right: bool = False


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


#: The table's columns, their widths (points) adding up to the width between the margins.
COLUMNS = (
    _Column("Finished (UTC)", 76, lambda entry: _time(entry.finished_at)),
    _Column("Due (UTC)", 76, lambda entry: _time(entry.due_at)),
    _Column("Status", 48, lambda entry: entry.status),
    _Column("Kind", 44, lambda entry: entry.kind),
    _Column("Try", 22, lambda entry: str(entry.attempt), right=True),
    _Column("Amount", 62, lambda entry: entry.amount.value, right=True),
    _Column("Cur.", 26, lambda entry: entry.amount.currency),
    _Column("Debit", 40, lambda entry: entry.debit_account),
    _Column("Credit", 40, lambda entry: entry.credit_account),
    _Column("Reason", 136, lambda entry: entry.reason),
    _Column("Recommended action", 136, lambda entry: entry.recommended_action),
    _Column("Reference", 64, lambda entry: entry.gateway_reference),
)

#: Rows that fit on the first page (under the document header) and on each later one.
FIRST_PAGE_ROWS = math.floor((_FIRST_TABLE_TOP - _HEADING_HEIGHT - _MARGIN) / _ROW_HEIGHT)
ROWS_PER_PAGE = math.floor((_TABLE_TOP - _HEADING_HEIGHT - _MARGIN) / _ROW_HEIGHT)


def page_count(rows: int) -> int:
    """How many pages a report of `rows` rows has."""
    return 1 + max(0, math.ceil((rows - FIRST_PAGE_ROWS) / ROWS_PER_PAGE))


def pdf_chunks(
    pages: Iterable[Sequence[HistoryEntryOut]],
    *,
    customer_id: str,
    filters: Sequence[str],
    generated_at: datetime,
) -> Iterator[bytes]:
    """The report on the entries of `pages`, as consecutive pieces of the file."""
    document = PdfStream(A4_LANDSCAPE)
    report = _Report(customer_id, filters, generated_at)
    yield document.begin()
    canvas, y = report.first_page()
    rows = 0
    for page in pages:
        for entry in page:
            if y - _ROW_HEIGHT < _MARGIN:
                yield document.page(canvas)
                canvas, y = report.next_page()
            _row(canvas, y, entry)
            y -= _ROW_HEIGHT
            rows += 1
    if rows == 0:
        canvas.text(_MARGIN, y - 7.5, encode("No attempts match."), Font.REGULAR, _BODY_SIZE)
    yield document.page(canvas)
    yield document.end({"Title": f"{TITLE}: {customer_id}", "Author": "tsched"}, generated_at)


class _Report:
    """Draws what surrounds the rows: headers, column headings, page numbers."""

    def __init__(self, customer_id: str, filters: Sequence[str], generated_at: datetime) -> None:
        self._customer_id = customer_id
        self._filters = ", ".join(filters) or "none"
        self._generated = f"Generated {_time(generated_at)} UTC"
        self._number = 0

    def first_page(self) -> tuple[Canvas, float]:
        """A new first page, and the top of its first row."""
        canvas = self._page()
        width = _WIDTH - 2 * _MARGIN
        canvas.text(_MARGIN, _TOP - 16, encode(TITLE), Font.BOLD, 16)
        for offset, line in (
            (32, f"Customer: {self._customer_id}"),
            (44, f"Filters: {self._filters}"),
            (56, self._generated),
        ):
            canvas.text(_MARGIN, _TOP - offset, fit(line, Font.REGULAR, 9, width), Font.REGULAR, 9)
        return canvas, self._headings(canvas, _FIRST_TABLE_TOP)

    def next_page(self) -> tuple[Canvas, float]:
        """A new later page, and the top of its first row."""
        canvas = self._page()
        head = fit(f"{TITLE}: {self._customer_id}", Font.BOLD, 9, 500)
        canvas.text(_MARGIN, _TOP - 9, head, Font.BOLD, 9)
        right = _WIDTH - _MARGIN
        canvas.text(right, _TOP - 9, encode(self._generated), Font.REGULAR, 9, right=True)
        return canvas, self._headings(canvas, _TABLE_TOP)

    def _page(self) -> Canvas:
        self._number += 1
        canvas = Canvas()
        number = encode(f"Page {self._number}")
        canvas.text(_WIDTH - _MARGIN, _MARGIN - 14, number, Font.REGULAR, 8, right=True)
        return canvas

    @staticmethod
    def _headings(canvas: Canvas, top: float) -> float:
        bottom = top - _HEADING_HEIGHT
        canvas.shade(_MARGIN, bottom, _WIDTH - 2 * _MARGIN, _HEADING_HEIGHT, gray=0.85)
        x = _MARGIN
        for column in COLUMNS:
            _cell(canvas, x, top - 10, column, text=column.heading, font=Font.BOLD)
            x += column.width
        canvas.line(_MARGIN, bottom, _WIDTH - _MARGIN, bottom)
        return bottom


def _row(canvas: Canvas, top: float, entry: HistoryEntryOut) -> None:
    x = _MARGIN
    for column in COLUMNS:
        _cell(canvas, x, top - 7.5, column, text=column.value(entry) or "", font=Font.REGULAR)
        x += column.width


def _cell(
    canvas: Canvas, x: float, baseline: float, column: _Column, *, text: str, font: Font
) -> None:
    if not text:
        return
    encoded = fit(text, font, _BODY_SIZE, column.width - 2 * _PADDING)
    if column.right:
        canvas.text(x + column.width - _PADDING, baseline, encoded, font, _BODY_SIZE, right=True)
    else:
        canvas.text(x + _PADDING, baseline, encoded, font, _BODY_SIZE)
