"""The streaming PDF writer: what it writes is a PDF a reader opens, page by page, with
a correct cross-reference table, escaped text, cp1252 or '?', and cells cut to width."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from pypdf._codecs.core_font_metrics import CORE_FONT_METRICS

from scheduler.api.pdf_stream import (
    WIDEST_NON_ASCII,
    Canvas,
    Font,
    PdfStream,
    encode,
    fit,
)

CREATED = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def _document(pages: list[str], *, compress: bool = True) -> bytes:
    writer = PdfStream(compress=compress)
    chunks = [writer.begin()]
    for text in pages:
        canvas = Canvas()
        canvas.text(40, 500, encode(text), Font.REGULAR, 12)
        canvas.text(800, 40, encode(text.upper()), Font.BOLD, 8, right=True)
        canvas.line(40, 490, 800, 490)
        canvas.shade(40, 470, 100, 10, gray=0.9)
        chunks.append(writer.page(canvas))
    chunks.append(writer.end({"Title": "A (test) document"}, CREATED))
    return b"".join(chunks)


@pytest.mark.parametrize("compress", [True, False])
def test_a_document_opens_with_each_page_and_its_text(compress: bool) -> None:
    data = _document(["first page", "second page", "third page"], compress=compress)

    reader = PdfReader(io.BytesIO(data), strict=True)

    assert data.startswith(b"%PDF-1.4\n")
    assert data.endswith(b"%%EOF\n")
    assert len(reader.pages) == 3
    assert [page.extract_text().split("\n") for page in reader.pages] == [
        ["first page", "FIRST PAGE"],
        ["second page", "SECOND PAGE"],
        ["third page", "THIRD PAGE"],
    ]
    assert reader.metadata is not None
    assert reader.metadata.title == "A (test) document"
    assert [float(value) for value in reader.pages[0].mediabox] == [0, 0, 842, 595]


def test_every_cross_reference_points_at_its_object() -> None:
    data = _document(["one", "two"])

    xref_at = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    lines = data[xref_at:].split(b"\n")
    count = int(lines[1].split()[1])
    offsets = [int(line[:10]) for line in lines[3 : 2 + count]]

    assert lines[0] == b"xref"
    assert all(
        re.match(rb"%d 0 obj\n" % number, data[offset:])
        for number, offset in enumerate(offsets, start=1)
    )
    assert b"/Size %d" % count in data[xref_at:]


def test_a_document_without_pages_still_opens() -> None:
    writer = PdfStream()
    data = writer.begin() + writer.end({}, CREATED)

    assert len(PdfReader(io.BytesIO(data), strict=True).pages) == 0


def test_parentheses_and_backslashes_are_escaped() -> None:
    text = r"a (nested (pair)) \ and an unmatched ) or ( too"

    [page] = PdfReader(io.BytesIO(_document([text]))).pages

    assert page.extract_text().split("\n")[0] == text


def test_text_outside_cp1252_becomes_question_marks_and_controls_spaces() -> None:
    assert encode("Zürich €5 \u2013 naïve") == "Zürich €5 \u2013 naïve".encode("cp1252")
    assert encode("Ωmega ✓ 東京") == b"?mega ? ??"
    assert encode("line\nbreak\ttab\r") == b"line break tab "


@pytest.mark.parametrize("font", list(Font))
def test_widths_are_the_core_font_metrics(font: Font) -> None:
    metrics = CORE_FONT_METRICS[font.base_font].character_widths
    non_ascii = bytes(range(128, 256)).decode("cp1252", errors="ignore")

    assert [font.widths[code] for code in range(32, 127)] == [
        metrics[chr(code)] for code in range(32, 127)
    ]
    assert all(metrics.get(char, 0) <= WIDEST_NON_ASCII for char in non_ascii)


@pytest.mark.parametrize("font", list(Font))
@pytest.mark.parametrize(
    "text",
    [
        "Insufficient funds in the debit account",
        "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
        "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii",
        "ÆŒ‰™ÆŒ‰™ÆŒ‰™ÆŒ‰™ÆŒ‰™",
    ],
)
def test_fit_cuts_text_to_the_width_with_an_ellipsis(font: Font, text: str) -> None:
    fitted = fit(text, font, 7, 60)

    assert font.width(fitted, 7) <= 60
    assert fitted.endswith("…".encode("cp1252"))
    assert encode(text).startswith(fitted[:-1])


def test_fit_keeps_text_that_fits() -> None:
    assert fit("succeeded", Font.REGULAR, 7, 60) == b"succeeded"
