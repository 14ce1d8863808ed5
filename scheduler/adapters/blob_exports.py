"""The `ExportStore` in Azure Blob storage: large downloads written block by block as
they are made, and read through a link that expires (a SAS for the one blob).

A download is staged in blocks of about `BLOCK_BYTES` as its chunks arrive (Put Block)
and committed once whole (Put Block List), so memory holds about one block whatever its
length, and nothing is readable before the commit: a download that fails part way
leaves only uncommitted blocks, which the service discards on its own (after a week).
The blob carries the file name as its Content-Disposition and its media type as its
Content-Type, so neither needs to be in the link, which ends up in logs and histories.

Links are signed one of two ways (`LinkSigner`):

- `UserDelegationSigner`, in Azure: a user delegation key, asked for with the app's
  Entra ID identity, signs a read-only, HTTPS-only SAS for the one blob. The exports
  account has its shared keys turned off (bicep/app/storage.bicep), so there is no
  other way; the identity needs a role with `generateUserDelegationKey` (Storage Blob
  Data Contributor has it, bicep/app/rbac.bicep).
- `AccountKeySigner`, for Azurite only: its development account's key, which Microsoft
  publishes. Azurite hands out user delegation keys only over HTTPS with OAuth on
  (`--oauth basic`), which a local run does not set up; the integration tests run such
  an Azurite to check the delegation path (tests/integration/azurite_oauth.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
    generate_blob_sas,
)

from scheduler import ports

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    #: What a `BlobServiceClient` here signs its requests with.
    Credential = TokenCredential | dict[str, str]

logger = logging.getLogger(__name__)

#: The container of the exports account that holds the downloads (storage.bicep makes
#: it, and its lifecycle rule deletes what is in it after a day).
CONTAINER = "exports"
#: Bytes staged per block, about: enough that a 1,000,000-row CSV (about 220 MiB) is
#: some 55 requests, far below the 50,000 blocks a blob may have, small enough that a
#: few concurrent downloads hold little memory.
BLOCK_BYTES = 4 * 2**20
#: A user delegation key starts this long before `now`, so that a service clock
#: slightly behind ours accepts it.
CLOCK_SKEW = timedelta(minutes=5)
#: Azurite's development account and its key, published by Microsoft
#: (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
#: Seconds to wait for a connection, and for an answer, before trying again.
CONNECTION_TIMEOUT = 5
READ_TIMEOUT = 60


def retry_policy() -> ExponentialRetry:
    """Two retries of a failed request, after about 3 and 5 s, in place of the SDK's
    three after 18, 24 and 42 s: a caller is waiting, so a store that keeps failing is a
    503 within about 10 s (plus `CONNECTION_TIMEOUT` an attempt, if it never answers)."""
    return ExponentialRetry(
        initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1
    )


class LinkSigner(Protocol):
    """Signs the query string of a read-only link to one blob."""

    def sign(self, blob: BlobClient, *, now: datetime, expires_at: datetime) -> str:
        """A SAS that reads `blob` until `expires_at`."""
        ...


class UserDelegationSigner:
    """Signs with a user delegation key of the Entra ID identity `service` uses: one key
    per link, valid from a little before `now` to the link's expiry. A download is tens
    of requests already; keeping a key for the next one would save one."""

    def __init__(self, service: BlobServiceClient) -> None:
        self._service = service

    def sign(self, blob: BlobClient, *, now: datetime, expires_at: datetime) -> str:
        """A read-only, HTTPS-only user delegation SAS for `blob`."""
        key = self._service.get_user_delegation_key(
            key_start_time=now - CLOCK_SKEW, key_expiry_time=expires_at
        )
        return generate_blob_sas(
            blob.account_name or "",
            blob.container_name,
            blob.blob_name,
            user_delegation_key=key,
            permission=BlobSasPermissions(read=True),
            expiry=expires_at,
            protocol="https",
        )


class AccountKeySigner:
    """Signs with an account key: for Azurite's development account only (the exports
    account in Azure has shared keys turned off)."""

    def __init__(self, account_name: str, account_key: str) -> None:
        self._account_name = account_name
        self._account_key = account_key

    def sign(self, blob: BlobClient, *, now: datetime, expires_at: datetime) -> str:
        """A read-only service SAS for `blob`, over HTTP or HTTPS as Azurite serves."""
        return generate_blob_sas(
            self._account_name,
            blob.container_name,
            blob.blob_name,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            expiry=expires_at,
        )


class BlobExportStore:
    """`ports.ExportStore` on the container `container` of `service`, links signed by
    `signer`, staged in blocks of about `block_bytes`. Creates the container if it is
    missing (Azurite starts empty; in Azure, Bicep made it)."""

    def __init__(
        self,
        service: BlobServiceClient,
        signer: LinkSigner,
        *,
        container: str = CONTAINER,
        block_bytes: int = BLOCK_BYTES,
        credential: TokenCredential | None = None,
    ) -> None:
        if block_bytes < 1:
            raise ValueError(f"block_bytes must be at least 1, not {block_bytes}")
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)
        self._signer = signer
        self._block_bytes = block_bytes
        self._credential = credential

    def save(self, name: str, chunks: Iterable[bytes], *, media_type: str, filename: str) -> int:
        """Stage the chunks in blocks as they come, then commit them as the blob `name`
        with `media_type` and an attachment named `filename`; returns the blob's size.
        An error of `chunks` itself propagates as it is; the store's, as
        `ExportStoreUnavailable`."""
        blob = self._container.get_blob_client(name)
        block_ids: list[BlobBlock] = []
        size = 0
        for block in _blocks(chunks, self._block_bytes):
            # Equal-length ids, as the service requires; the SDK base64-encodes them.
            block_id = f"{len(block_ids):06d}"
            self._stage(blob, block_id, block)
            block_ids.append(BlobBlock(block_id=block_id))
            size += len(block)
            # Let go of it now, not when the next block is ready: two blocks, not three.
            del block
        settings = ContentSettings(
            content_type=media_type,
            content_disposition=f'attachment; filename="{filename}"',
            cache_control="no-store",
        )
        with _unavailable("commit the export's blocks"):
            blob.commit_block_list(block_ids, content_settings=settings)
        logger.info(
            "export written to blob storage",
            extra={"blob": name, "bytes": size, "blocks": len(block_ids)},
        )
        return size

    def link(self, name: str, *, now: datetime, expires_at: datetime) -> str:
        """The blob's URL with a read-only SAS that expires at `expires_at`."""
        blob = self._container.get_blob_client(name)
        with _unavailable("sign a link to the export"):
            query = self._signer.sign(blob, now=now, expires_at=expires_at)
        return f"{blob.url}?{query}"

    def close(self) -> None:
        """Close the HTTP session and, if this store owns one, the credential."""
        self._service.close()
        if self._credential is not None:
            close = getattr(self._credential, "close", None)
            if close is not None:
                close()

    def _stage(self, blob: BlobClient, block_id: str, block: bytes) -> None:
        with _unavailable("stage a block of the export"):
            try:
                blob.stage_block(block_id, block, length=len(block))
            except ResourceNotFoundError as error:
                if getattr(error, "error_code", None) != "ContainerNotFound":
                    raise
                with contextlib.suppress(ResourceExistsError):
                    self._container.create_container()
                blob.stage_block(block_id, block, length=len(block))


def open_store(account_url: str, *, client_id: str | None) -> BlobExportStore:
    """The store on the Blob service at `account_url` (`BLOB_ACCOUNT_URL`).

    An `https` URL is Azure: the managed identity (`client_id` when user-assigned; the
    developer's Azure CLI login when run elsewhere) writes, and links are user
    delegation SAS. An `http` URL, which the settings allow on loopback only, is
    Azurite: its development account, by its published key."""
    parts = urlsplit(account_url)
    if parts.scheme == "http":
        account = parts.path.strip("/")
        if account != AZURITE_ACCOUNT:
            raise ValueError(
                f"BLOB_ACCOUNT_URL over http is for Azurite's {AZURITE_ACCOUNT} account, "
                f"e.g. http://127.0.0.1:10000/{AZURITE_ACCOUNT}"
            )
        service = _service(
            account_url, {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        )
        return BlobExportStore(service, AccountKeySigner(AZURITE_ACCOUNT, AZURITE_KEY))
    credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    service = _service(account_url, credential)
    return BlobExportStore(service, UserDelegationSigner(service), credential=credential)


def _service(account_url: str, credential: Credential) -> BlobServiceClient:
    return BlobServiceClient(
        account_url,
        credential=credential,
        retry_policy=retry_policy(),
        connection_timeout=CONNECTION_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


def _blocks(chunks: Iterable[bytes], block_bytes: int) -> Iterator[bytes]:
    """The bytes of `chunks`, regrouped into blocks of at least `block_bytes` (the last
    may be shorter); none when `chunks` holds no bytes."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        if len(pending) >= block_bytes:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


@contextlib.contextmanager
def _unavailable(doing: str) -> Iterator[None]:
    """Turn the store's errors inside into `ExportStoreUnavailable`, saying what failed."""
    try:
        yield
    except AzureError as error:
        logger.warning(
            "blob storage failed to %s: %s", doing, type(error).__name__, extra={"doing": doing}
        )
        raise ports.ExportStoreUnavailable(f"the export store failed to {doing}") from error
