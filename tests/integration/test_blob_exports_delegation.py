"""The Blob export store as it runs in Azure, on Azurite over HTTPS with OAuth on
(`azurite_oauth`): it writes with Entra ID bearer tokens and signs links with a user
delegation key valid until the link's expiry, read-only, HTTPS-only, for one blob.

Reading through such a link is where Azurite 3.35 stops: azure-storage-blob 12.31
signs SAS version 2026-10-06, whose string to sign has two lines (signed request
headers and query parameters) that Azurite's newest layout (2025-07-05) lacks, so
Azurite computes another signature and answers 403. Dropping those two lines from the
SDK's string to sign makes Azurite accept it; the test that reads stays, marked to
fail until an Azurite that knows 2026-10-06 (3.36 and up need Node 21+) is installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from scheduler.adapters import blob_exports
from tests.integration.azurite_oauth import AzuriteOAuth, EntraStandIn

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def azurite_oauth() -> Iterator[AzuriteOAuth]:
    service = AzuriteOAuth()
    try:
        service.start()
    except BaseException:
        service.close()
        raise
    yield service
    service.close()


@pytest.fixture
def identity() -> EntraStandIn:
    """The app's managed identity, as far as Azurite can tell."""
    return EntraStandIn()


@pytest.fixture
def store(
    azurite_oauth: AzuriteOAuth, identity: EntraStandIn
) -> Iterator[blob_exports.BlobExportStore]:
    """The store as `open_store` builds it for an https URL, but with the stand-in's
    tokens and Azurite's certificate trusted."""
    service = azurite_oauth.client(identity, retry_policy=blob_exports.retry_policy())
    store = blob_exports.BlobExportStore(service, blob_exports.UserDelegationSigner(service))
    yield store
    store.close()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _written(store: blob_exports.BlobExportStore) -> str:
    name = f"history/{uuid.uuid4()}.csv"
    store.save(name, iter([b"a,b\r\n", b"1,2\r\n"]), media_type="text/csv", filename="h.csv")
    return name


def test_with_entra_id_it_signs_a_read_only_https_link_with_a_key_ending_with_it(
    store: blob_exports.BlobExportStore, identity: EntraStandIn
) -> None:
    name = _written(store)
    now = _now()
    expires_at = now + timedelta(minutes=15)

    url = store.link(name, now=now, expires_at=expires_at)

    sas = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    assert urlsplit(url).path.endswith(f"/exports/{name}")
    assert sas["skoid"] == identity.object_id
    assert sas["se"] == sas["ske"] == expires_at.strftime(stamp)
    assert sas["skt"] == (now - blob_exports.CLOCK_SKEW).strftime(stamp)
    assert (sas["sp"], sas["spr"], sas["sr"]) == ("r", "https", "b")
    assert "sig" in sas


@pytest.mark.xfail(
    reason="Azurite 3.35 checks user delegation SAS in the 2025-07-05 layout; the SDK "
    "signs 2026-10-06, which has two more lines (see the module docstring)",
    strict=True,
)
def test_a_user_delegation_link_reads_the_blob(
    store: blob_exports.BlobExportStore, azurite_oauth: AzuriteOAuth
) -> None:
    name = _written(store)
    now = _now()

    url = store.link(name, now=now, expires_at=now + timedelta(minutes=15))

    response = httpx.get(url, verify=azurite_oauth.context())
    assert response.status_code == 200
    assert response.content == b"a,b\r\n1,2\r\n"
