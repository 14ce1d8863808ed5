"""An `ExportStore` in memory, for tests of the API without Blob storage. It passes the
same contract tests as the Blob adapter (tests/integration/test_blob_exports.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from scheduler import ports

#: Where the fake's links point; nothing answers there.
BASE_URL = "https://exports.invalid/exports/"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file the fake holds, as a fetch of its link would return it."""

    content: bytes
    media_type: str
    filename: str


@dataclass
class MemoryExportStore:
    """Files in a dict; a link is `BASE_URL` + name + `?se=<expiry>`. `failing` makes
    every call raise `ExportStoreUnavailable`, as a store that does not answer."""

    files: dict[str, StoredFile] = field(default_factory=dict)
    failing: bool = False

    def save(self, name: str, chunks: Iterable[bytes], *, media_type: str, filename: str) -> int:
        """Keep the bytes of `chunks` as `name` once they are all read."""
        self._answer()
        content = b"".join(chunks)
        self.files[name] = StoredFile(content, media_type, filename)
        return len(content)

    def link(self, name: str, *, now: datetime, expires_at: datetime) -> str:
        """`BASE_URL` + name, its expiry as the query's `se`, as a SAS has it."""
        self._answer()
        return f"{BASE_URL}{name}?se={expires_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"

    def fetch(self, url: str, *, now: datetime) -> StoredFile | None:
        """What a GET of `url` at `now` returns: the file, or None when the link has
        expired or names nothing."""
        parts = urlsplit(url)
        name = parts.path.removeprefix(urlsplit(BASE_URL).path)
        expiry = parse_qs(parts.query)["se"][0]
        if now.strftime("%Y-%m-%dT%H:%M:%SZ") >= expiry:
            return None
        return self.files.get(name)

    def _answer(self) -> None:
        if self.failing:
            raise ports.ExportStoreUnavailable("the export store failed (a test's fake)")
