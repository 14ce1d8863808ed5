"""A PDF 1.4 writer that hands out each page's bytes as soon as the page is done.

fpdf2 and reportlab keep the whole document until it is output, so a 100,000-row
report would sit in memory; here a page costs memory only while it is being drawn. What
must come at the end comes at the end: the page tree (reserved as object 2 when the
document begins and written last, its `Kids` a list of page object numbers), the
cross-reference table of byte offsets, and the trailer.

Text uses the base-14 fonts Helvetica and Helvetica-Bold in WinAnsiEncoding (cp1252),
which every reader has, so no font is embedded: a character outside cp1252 prints as
'?'. `fit` cuts text to a width with the fonts' standard (AFM) glyph widths, so a table
cell never runs into the next.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime

#: A4 landscape, in points.
A4_LANDSCAPE = (842.0, 595.0)

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
_CATALOG, _PAGES = 1, 2
_ELLIPSIS = "\u2026".encode("cp1252")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPECIAL = re.compile(rb"[()\\]")

# Advance widths (thousandths of the font size) of the printable ASCII characters, from
# the Adobe Core 14 AFM files; other cp1252 characters are taken as the widest of them.
_HELVETICA = (
    "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 "
    "556 556 556 556 556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 "
    "500 667 556 833 722 778 667 778 722 667 611 722 667 944 667 667 611 278 278 278 469 "
    "556 333 556 556 500 556 556 278 556 556 222 222 500 222 833 556 556 556 556 333 500 "
    "278 556 500 722 500 500 500 334 260 334 584"
)
_HELVETICA_BOLD = (
    "278 333 474 556 556 889 722 238 333 333 389 584 278 333 278 278 556 556 556 556 556 "
    "556 556 556 556 556 333 333 584 584 584 611 975 722 722 722 722 667 611 778 722 278 "
    "556 722 611 833 722 778 667 778 722 667 611 722 667 944 667 667 611 333 278 333 584 "
    "556 333 556 611 556 611 556 333 611 611 278 278 556 278 889 611 611 611 611 389 556 "
    "333 611 556 778 556 556 500 389 280 389 584"
)
#: Width assumed for a cp1252 character outside printable ASCII: no glyph is wider.
WIDEST_NON_ASCII = 1000


def _widths(table: str) -> tuple[int, ...]:
    ascii_widths = [int(width) for width in table.split()]
    return tuple(
        ascii_widths[code - 32] if 32 <= code < 127 else WIDEST_NON_ASCII for code in range(256)
    )


class Font(enum.Enum):
    """A base-14 font: its resource name in page content, PostScript name and widths."""

    REGULAR = ("F1", "Helvetica", _widths(_HELVETICA))
    BOLD = ("F2", "Helvetica-Bold", _widths(_HELVETICA_BOLD))

    def __init__(self, resource: str, base_font: str, widths: tuple[int, ...]) -> None:
        self.resource = resource
        self.base_font = base_font
        self.widths = widths

    def width(self, encoded: bytes, size: float) -> float:
        """The width in points of cp1252 text at `size` points."""
        return sum(map(self.widths.__getitem__, encoded)) * size / 1000


def encode(text: str) -> bytes:
    """`text` in cp1252 (WinAnsiEncoding): control characters become spaces, characters
    cp1252 lacks become '?'."""
    return _CONTROL.sub(" ", text).encode("cp1252", errors="replace")


def fit(text: str, font: Font, size: float, width: float) -> bytes:
    """`text` encoded, cut short with an ellipsis if it is wider than `width` points."""
    encoded = encode(text)
    if font.width(encoded, size) <= width:
        return encoded
    room = width * 1000 / size - font.widths[_ELLIPSIS[0]]
    used = 0
    for end, code in enumerate(encoded):
        used += font.widths[code]
        if used > room:
            return encoded[:end] + _ELLIPSIS
    return encoded


def _literal(encoded: bytes) -> bytes:
    return b"(" + _SPECIAL.sub(rb"\\\g<0>", encoded) + b")"


def _number(value: float) -> bytes:
    return b"%.2f" % value


class Canvas:
    """The drawing on one page, in points from the bottom left corner."""

    def __init__(self) -> None:
        self._operations: list[bytes] = []

    def text(
        self, x: float, y: float, encoded: bytes, font: Font, size: float, *, right: bool = False
    ) -> None:
        """Draw cp1252 text (from `encode` or `fit`) with its baseline at `y`, starting
        at `x` or, if `right`, ending there."""
        if right:
            x -= font.width(encoded, size)
        self._operations.append(
            b"BT /%s %s Tf %s %s Td %s Tj ET"
            % (font.resource.encode(), _number(size), _number(x), _number(y), _literal(encoded))
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, *, width: float = 0.5) -> None:
        """Draw a straight line."""
        self._operations.append(
            b"%s w %s %s m %s %s l S"
            % (_number(width), _number(x1), _number(y1), _number(x2), _number(y2))
        )

    def shade(self, x: float, y: float, width: float, height: float, *, gray: float) -> None:
        """Fill a rectangle with a gray level (0 black, 1 white), then paint in black again."""
        self._operations.append(
            b"%s g %s %s %s %s re f 0 g"
            % (_number(gray), _number(x), _number(y), _number(width), _number(height))
        )

    def content(self) -> bytes:
        """The page's content stream."""
        return b"\n".join(self._operations)


class PdfStream:
    """Writes one document: `begin()`, then `page()` per page, then `end()`; each
    returns the next bytes of the file, to be sent in that order."""

    def __init__(self, size: tuple[float, float] = A4_LANDSCAPE, *, compress: bool = True) -> None:
        self._size = size
        self._compress = compress
        #: Byte offset of each object, by object number (0 is the free list head).
        self._offsets: list[int] = [0]
        self._page_numbers: list[int] = []
        self._font_numbers: dict[Font, int] = {}
        self._written = 0

    def begin(self) -> bytes:
        """The header, the catalog and the fonts."""
        self._written = len(_HEADER)
        chunks = [_HEADER]
        chunks.append(self._object(_CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % _PAGES))
        self._offsets.append(0)  # The page tree's number, reserved for `end()`.
        for font in Font:
            self._font_numbers[font] = len(self._offsets)
            chunks.append(
                self._object(
                    self._font_numbers[font],
                    b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
                    % font.base_font.encode(),
                )
            )
        return b"".join(chunks)

    def page(self, canvas: Canvas) -> bytes:
        """The next page: its content stream and its page object."""
        content = canvas.content()
        stream_dictionary = b"<< /Length %d >>"
        if self._compress:
            content = zlib.compress(content)
            stream_dictionary = b"<< /Length %d /Filter /FlateDecode >>"
        contents_number = len(self._offsets)
        stream = self._object(
            contents_number,
            stream_dictionary % len(content) + b"\nstream\n" + content + b"\nendstream",
        )
        page_number = len(self._offsets)
        self._page_numbers.append(page_number)
        page = self._object(
            page_number,
            b"<< /Type /Page /Parent %d 0 R /Contents %d 0 R >>" % (_PAGES, contents_number),
        )
        return stream + page

    def end(self, info: Mapping[str, str], created: datetime) -> bytes:
        """The page tree, the document information (`info`: Title, Author, Subject...),
        the cross-reference table and the trailer."""
        fonts = b" ".join(
            b"/%s %d 0 R" % (font.resource.encode(), number)
            for font, number in self._font_numbers.items()
        )
        kids = b" ".join(b"%d 0 R" % number for number in self._page_numbers)
        width, height = self._size
        pages = self._object(
            _PAGES,
            b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 %s %s] "
            b"/Resources << /Font << %s >> >> >>"
            % (kids, len(self._page_numbers), _number(width), _number(height), fonts),
        )
        info_number = len(self._offsets)
        entries = [
            b"/%s %s" % (key.encode(), _literal(encode(value))) for key, value in info.items()
        ]
        stamp = created.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ").encode()
        entries.append(b"/CreationDate (%s) /Producer (tsched)" % stamp)
        information = self._object(info_number, b"<< %s >>" % b" ".join(entries))
        xref_at = self._written
        table = [b"xref\n0 %d\n" % len(self._offsets), b"0000000000 65535 f \n"]
        table.extend(b"%010d 00000 n \n" % offset for offset in self._offsets[1:])
        table.append(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self._offsets), _CATALOG, info_number, xref_at)
        )
        return pages + information + b"".join(table)

    def _object(self, number: int, body: bytes) -> bytes:
        data = b"%d 0 obj\n%s\nendobj\n" % (number, body)
        if number == len(self._offsets):
            self._offsets.append(self._written)
        else:
            self._offsets[number] = self._written
        self._written += len(data)
        return data
