"""Azurite's Blob service (the Azure Storage emulator, from npm) on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from tests.services import process

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Installed by scripts/test with `npm ci` from tests/services/azurite/package-lock.json.
DEFAULT_EXECUTABLE = (
    REPO_ROOT / "tests" / "services" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
)
#: Azurite's fixed development account; its key is public and documented by Microsoft.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 30.0


def find_executable() -> Path:
    """The ``azurite-blob`` launcher: ``TSCHED_AZURITE_BLOB`` or the repo's npm install."""
    executable = Path(os.environ.get("TSCHED_AZURITE_BLOB", DEFAULT_EXECUTABLE))
    if not executable.exists():
        raise process.ServiceStartError(
            f"{executable} is missing; scripts/test installs Azurite with npm ci"
        )
    return executable


class AzuriteBlob:
    """Blob service only, data in a temp dir, no telemetry, any API version accepted.

    ``--skipApiVersionCheck`` lets a newer azure-storage-blob talk to the Azurite that
    still runs on Node 20; ``--loose`` ignores headers Azurite does not implement.
    """

    def __init__(self, *, executable: Path | None = None) -> None:
        self.executable = executable or find_executable()
        self.port = 0
        self._dir: Path | None = None
        self._process: process.ServiceProcess | None = None

    @property
    def connection_string(self) -> str:
        """Storage connection string for the development account on this instance."""
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={ACCOUNT_NAME};"
            f"AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT_NAME};"
        )

    def start(self) -> None:
        """Start Azurite and wait until the Blob service answers an authenticated request."""
        run_dir = Path(tempfile.mkdtemp(prefix="tsched-azurite-"))
        self._dir = run_dir
        (self.port,) = process.free_ports(1)
        self._process = process.ServiceProcess(
            name="azurite",
            argv=[
                str(self.executable),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--location",
                str(run_dir / "data"),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ],
            log_path=run_dir / "azurite.log",
            cwd=run_dir,
            stop_timeout=10.0,
        )
        client = BlobServiceClient.from_connection_string(
            self.connection_string, retry_total=0, connection_timeout=1, read_timeout=5
        )

        def answers() -> bool:
            client.get_service_properties()
            return True

        self._process.start(answers, timeout=START_TIMEOUT)

    def stop(self) -> None:
        """Stop the Azurite process."""
        if self._process is not None:
            self._process.stop()

    def close(self) -> None:
        """Stop Azurite and delete its data and logs."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
