"""Azurite's Blob service as Azure is reached from the Functions app: over HTTPS, with
Entra ID bearer tokens, handing out user delegation keys.

Azurite gives user delegation keys only to a bearer-token caller, and takes bearer
tokens only over HTTPS with `--oauth basic` (it checks their issuer, audience and
lifetime, not their signature; `BlobTokenAuthenticator` in Azurite 3.35). So this
starts a second Azurite, from the same npm install, with a self-signed certificate
for 127.0.0.1 and OAuth on, and `EntraStandIn` mints the tokens.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobServiceClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.services import azurite, process

#: An issuer Azurite accepts (its VALID_ISSUE_PREFIXES) and the audience of Storage.
_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_ISSUER = f"https://sts.windows.net/{_TENANT}/"
_AUDIENCE = "https://storage.azure.com"


class EntraStandIn:
    """A `TokenCredential` whose tokens have the shape of Entra ID's for Storage (the
    app's identity as `oid`), signed with a throwaway key Azurite does not check."""

    def __init__(self) -> None:
        self.object_id = str(uuid.uuid4())
        self._secret = uuid.uuid4().hex

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """A token for Storage, valid for an hour."""
        now = int(time.time())
        expires_on = now + 3600
        payload = {
            "aud": _AUDIENCE,
            "iss": _ISSUER,
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "oid": self.object_id,
            "tid": _TENANT,
        }
        return AccessToken(jwt.encode(payload, self._secret, algorithm="HS256"), expires_on)


class AzuriteOAuth:
    """Azurite's Blob service over HTTPS with OAuth on; `ca_file` is its certificate,
    which clients must trust (`connection_verify=` for the SDK, `context()` else)."""

    def __init__(self) -> None:
        self.executable = azurite.find_executable()
        self.port = 0
        self._dir: Path | None = None
        self._process: process.ServiceProcess | None = None

    @property
    def account_url(self) -> str:
        """The Blob service URL of the development account."""
        return f"https://127.0.0.1:{self.port}/{azurite.ACCOUNT_NAME}"

    @property
    def ca_file(self) -> str:
        """The PEM file of the server's self-signed certificate."""
        assert self._dir is not None, "not started"
        return str(self._dir / "cert.pem")

    def context(self) -> ssl.SSLContext:
        """An SSL context trusting the server's certificate."""
        return ssl.create_default_context(cafile=self.ca_file)

    def client(self, credential: EntraStandIn, **options: Any) -> BlobServiceClient:
        """A client of the service, calling with `credential`'s tokens."""
        return BlobServiceClient(
            self.account_url, credential=credential, connection_verify=self.ca_file, **options
        )

    def start(self) -> None:
        """Write the certificate, start Azurite, wait until it answers a bearer token."""
        run_dir = Path(tempfile.mkdtemp(prefix="tsched-azurite-oauth-"))
        self._dir = run_dir
        _write_certificate(run_dir / "cert.pem", run_dir / "key.pem")
        (self.port,) = process.free_ports(1)
        self._process = process.ServiceProcess(
            name="azurite-oauth",
            argv=[
                str(self.executable),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--location",
                str(run_dir / "data"),
                "--cert",
                str(run_dir / "cert.pem"),
                "--key",
                str(run_dir / "key.pem"),
                "--oauth",
                "basic",
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ],
            log_path=run_dir / "azurite.log",
            cwd=run_dir,
            stop_timeout=10.0,
        )
        # No retries: the SDK's first would wait 15 s while Azurite is still starting.
        client = self.client(EntraStandIn(), retry_total=0, connection_timeout=1)

        def answers() -> bool:
            client.get_service_properties(timeout=5)
            return True

        self._process.start(answers, timeout=azurite.START_TIMEOUT)

    def close(self) -> None:
        """Stop Azurite and delete its data, logs and certificate."""
        if self._process is not None:
            self._process.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _write_certificate(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for 127.0.0.1, valid for a day, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
