"""Exports to Blob storage on real Azurite (its development account, links signed with
its published key, as a local run has them):

- the contract every `ExportStore` keeps, by the Blob adapter and the in-memory fake
  alike: the bytes written are the bytes a link reads, nothing is readable before the
  last chunk is written (nor after a failed one), and a link stops working at its
  expiry;
- a 25,000-row CSV download by link through the API: written block by block with
  memory that does not grow with its length, the link reading the same bytes as the
  streamed download, its expiry in the SAS, its blob named by a random id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from fastapi import FastAPI

from bench.export_memory import download, seed_attempts
from scheduler import bootstrap, ports
from scheduler.adapters import blob_exports
from scheduler.adapters.sql import migrate
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.config import Settings
from scheduler.domain.money import Money
from tests.services import azurite, process
from tests.support.clock import SettableClock
from tests.support.export_store import MemoryExportStore, StoredFile

pytestmark = pytest.mark.integration

#: Alice's attempts, and Bob's: the same download at a tenth of the length.
ALICES = 25_000
BOBS = 2_500
#: Blocks small enough that Alice's CSV (about 5.6 MiB) is some twenty of them.
BLOCK_BYTES = 256 * 1024
#: What a fetch of a link at an instant reads: the file, or None when refused.
Fetch = Callable[[str, datetime], bytes | None]


def _now() -> datetime:
    """The real time, to the second: Azurite checks a SAS against its own clock."""
    return datetime.now(UTC).replace(microsecond=0)


def _azurite_url(blob: azurite.AzuriteBlob) -> str:
    return f"http://127.0.0.1:{blob.port}/{azurite.ACCOUNT_NAME}"


def _fetch_over_http(url: str, _at: datetime) -> bytes | None:
    response = httpx.get(url)
    if response.status_code in (403, 404):
        return None
    response.raise_for_status()
    return response.content


@pytest.fixture(params=["blob", "memory"])
def contract(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[ports.ExportStore, Fetch]]:
    """An export store, and how its links are fetched: Blob storage on Azurite (built
    from BLOB_ACCOUNT_URL as the app builds it), or the tests' fake."""
    if request.param == "memory":
        memory = MemoryExportStore()
        yield memory, lambda url, at: _content(memory.fetch(url, now=at))
        return
    blob: azurite.AzuriteBlob = request.getfixturevalue("azurite_blob")
    store = blob_exports.open_store(_azurite_url(blob), client_id=None)
    yield store, _fetch_over_http
    store.close()


def _content(found: StoredFile | None) -> bytes | None:
    return None if found is None else found.content


def _name() -> str:
    return f"history/{uuid.uuid4()}.csv"


def _save(store: ports.ExportStore, name: str, chunks: Iterator[bytes]) -> int:
    return store.save(name, chunks, media_type="text/csv", filename="history.csv")


def test_contract_a_link_reads_the_bytes_written(
    contract: tuple[ports.ExportStore, Fetch],
) -> None:
    store, fetch = contract
    chunks = [f"row {number}\r\n".encode() * 100 for number in range(50)]
    name, now = _name(), _now()

    size = _save(store, name, iter(chunks))

    assert size == sum(map(len, chunks))
    url = store.link(name, now=now, expires_at=now + timedelta(minutes=15))
    assert fetch(url, now) == b"".join(chunks)


def test_contract_nothing_is_readable_before_it_is_written(
    contract: tuple[ports.ExportStore, Fetch],
) -> None:
    store, fetch = contract
    now = _now()

    url = store.link(_name(), now=now, expires_at=now + timedelta(minutes=15))

    assert fetch(url, now) is None


def test_contract_a_write_whose_chunks_fail_leaves_nothing_readable(
    contract: tuple[ports.ExportStore, Fetch],
) -> None:
    store, fetch = contract
    name, now = _name(), _now()

    def failing() -> Iterator[bytes]:
        yield b"x" * (blob_exports.BLOCK_BYTES + 1)  # a block is staged first
        raise RuntimeError("the history could not be read")

    with pytest.raises(RuntimeError, match="could not be read"):
        _save(store, name, failing())

    url = store.link(name, now=now, expires_at=now + timedelta(minutes=15))
    assert fetch(url, now) is None


def test_contract_a_link_reads_nothing_at_its_expiry(
    contract: tuple[ports.ExportStore, Fetch],
) -> None:
    store, fetch = contract
    name, now = _name(), _now()
    _save(store, name, iter([b"a,b\r\n"]))

    url = store.link(name, now=now - timedelta(minutes=20), expires_at=now - timedelta(minutes=5))

    assert fetch(url, now) is None


def test_a_store_that_cannot_be_reached_is_unavailable() -> None:
    (port,) = process.free_ports(1)
    url = f"http://127.0.0.1:{port}/{azurite.ACCOUNT_NAME}"
    credential = {"account_name": azurite.ACCOUNT_NAME, "account_key": azurite.ACCOUNT_KEY}
    service = BlobServiceClient(url, credential=credential, retry_total=0)
    store = blob_exports.BlobExportStore(
        service, blob_exports.AccountKeySigner(azurite.ACCOUNT_NAME, azurite.ACCOUNT_KEY)
    )

    with pytest.raises(ports.ExportStoreUnavailable, match="stage a block"):
        _save(store, _name(), iter([b"a,b\r\n"]))


# A download by link through the API.


@pytest.fixture(scope="module")
def api(
    azurite_blob: azurite.AzuriteBlob, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, DevelopmentSigner, bootstrap.Runtime]]:
    """The API as uvicorn serves it, on a store holding ALICES attempts of Alice and
    BOBS of Bob, writing exports to Azurite in blocks of BLOCK_BYTES, its clock at the
    real time (Azurite checks the links against its own)."""
    directory = tmp_path_factory.mktemp("exports")
    settings = Settings(database_url=f"sqlite:///{directory / 'store.sqlite3'}")
    runtime = bootstrap.build(settings, clock=SettableClock(_now()), worker="exports-test")
    migrate.upgrade(runtime.engine)
    for customer, rows in (("alice", ALICES), ("bob", BOBS)):
        amounts = (
            Money.of(Decimal(100 + number % 99_900).scaleb(-2), "GBP") for number in range(rows)
        )
        seed_attempts(
            runtime.engine, customer, amounts, first_finished_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
    service = BlobServiceClient.from_connection_string(azurite_blob.connection_string)
    signer_key = blob_exports.AccountKeySigner(azurite.ACCOUNT_NAME, azurite.ACCOUNT_KEY)
    store = blob_exports.BlobExportStore(service, signer_key, block_bytes=BLOCK_BYTES)
    linked = dataclasses.replace(runtime, exports=store)
    signer = DevelopmentSigner(Path(directory))
    yield create_app(linked, signer.verifier()), signer, linked
    store.close()
    runtime.close()


def _get(
    app: FastAPI, signer: DevelopmentSigner, customer: str, url: str, *, traced: bool = False
) -> tuple[bytes, int]:
    """The body of GET `url` as `customer`, and the peak memory Python allocated for it
    when `traced` (0 otherwise); chunks are counted, not kept, while traced."""
    token = signer.issue(customer, [Role.CUSTOMER], customer_id=customer)
    headers = {"Authorization": f"Bearer {token}"}
    body: list[bytes] = []
    if not traced:
        answer = asyncio.run(download(app, url, headers, body.append))
        assert answer.status == 200
        return b"".join(body), 0
    gc.collect()
    tracemalloc.start()
    try:
        answer = asyncio.run(download(app, url, headers, body.append))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status == 200
    return b"".join(body), peak


def test_a_25000_row_csv_goes_to_a_blob_in_memory_that_does_not_grow_with_its_length(
    api: tuple[FastAPI, DevelopmentSigner, bootstrap.Runtime],
) -> None:
    app, signer, _runtime = api
    link = "/v1/history/export.csv?delivery=link"
    _get(app, signer, "bob", link)  # once untraced: caches filled on first use

    bobs, bobs_peak = _get(app, signer, "bob", link, traced=True)
    alices, alices_peak = _get(app, signer, "alice", link, traced=True)

    alices_size = httpx.Response(200, content=alices).json()["size"]
    bobs_size = httpx.Response(200, content=bobs).json()["size"]
    assert alices_size > 5 * 2**20
    assert alices_size - bobs_size > 4 * 2**20
    # Ten times the rows, some 5 MiB more bytes written: at most a block or two more held.
    assert alices_peak - bobs_peak < 2 * BLOCK_BYTES + 256 * 1024
    assert alices_peak < alices_size * 3 // 4


def test_the_link_reads_the_bytes_of_the_streamed_download_until_its_expiry(
    api: tuple[FastAPI, DevelopmentSigner, bootstrap.Runtime],
) -> None:
    app, signer, runtime = api
    streamed, _ = _get(app, signer, "alice", "/v1/history/export.csv")

    answer, _ = _get(app, signer, "alice", "/v1/history/export.csv?delivery=link")

    link = httpx.Response(200, content=answer).json()
    expires_at = runtime.clock.now() + timedelta(seconds=runtime.settings.export_link_seconds)
    assert link["expires_at"] == expires_at.isoformat().replace("+00:00", "Z")
    parts = urlsplit(link["url"])
    sas = parse_qs(parts.query)
    assert sas["se"] == [link["expires_at"]]
    assert sas["sp"] == ["r"]
    assert sas["sr"] == ["b"]
    fetched = httpx.get(link["url"])
    assert fetched.status_code == 200
    assert fetched.content == streamed
    assert fetched.headers["content-type"] == "text/csv; charset=utf-8"
    assert fetched.headers["content-disposition"] == (f'attachment; filename="{link["filename"]}"')
    assert link["filename"].startswith("history-alice-")


def test_the_blob_is_named_by_a_random_id_not_the_customer(
    api: tuple[FastAPI, DevelopmentSigner, bootstrap.Runtime],
) -> None:
    app, signer, _runtime = api

    answer, _ = _get(app, signer, "alice", "/v1/history/export.pdf?delivery=link")

    path = urlsplit(httpx.Response(200, content=answer).json()["url"]).path
    container, _, name = path.removeprefix(f"/{azurite.ACCOUNT_NAME}/").partition("/")
    assert container == blob_exports.CONTAINER
    assert uuid.UUID(name.removeprefix("history/").removesuffix(".pdf"))
    assert "alice" not in path
