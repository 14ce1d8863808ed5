"""A Cosmos DB compatible server (npm `@vercel/cosmosdb-server`) over HTTPS on 127.0.0.1.

It speaks the NoSQL API's REST protocol well enough for azure-cosmos: databases,
containers with partition keys and composite indexes, upserts, parameterised SQL queries
with ORDER BY, TOP, COUNT and continuation tokens. Its certificate is self-signed (clients
pass `connection_verify=False`) and it accepts any well-formed master key; it knows
nothing of Entra ID tokens. Known gaps beside real Cosmos DB, which the archive adapter
works around or which only real Cosmos DB covers:

- a point read of a missing item answers 500, not 404 (the adapter queries instead);
- `partition_key=` on a query is ignored: a query must filter on the key in its WHERE
  clause (without cross-partition enabled, it refuses one that does not);
- no OFFSET/LIMIT, no transactional batch, no delete by partition key;
- `ttl` and `defaultTtl` are stored but nothing ever expires;
- no request units, no throttling (429), no consistency levels, no RBAC.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from azure.cosmos import CosmosClient

from tests.services import process

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Installed by scripts/test with `npm ci` from tests/services/cosmos-server/package-lock.json.
DEFAULT_EXECUTABLE = (
    REPO_ROOT / "tests" / "services" / "cosmos-server" / "node_modules" / ".bin" / "cosmosdb-server"
)
#: Any base64 text is a master key to the server; this one is used by every test.
MASTER_KEY = "dHNjaGVkLXRlc3QtY29zbW9zLXNlcnZlcg=="
START_TIMEOUT = 30.0


def find_executable() -> Path:
    """The `cosmosdb-server` launcher: `TSCHED_COSMOS_SERVER` or the repo's npm install."""
    executable = Path(os.environ.get("TSCHED_COSMOS_SERVER", DEFAULT_EXECUTABLE))
    if not executable.exists():
        raise process.ServiceStartError(
            f"{executable} is missing; scripts/test installs it with npm ci"
        )
    return executable


def client(endpoint: str) -> CosmosClient:
    """A client of the server at `endpoint`: its self-signed certificate accepted, the
    master key as credential, no retries (a test should see a failure at once)."""
    return CosmosClient(
        endpoint,
        credential=MASTER_KEY,
        connection_verify=False,
        retry_total=0,
        connection_timeout=2,
        read_timeout=10,
    )


class CosmosServer:
    """One server process, data in memory (each run starts empty), stopped by its pid."""

    def __init__(self, *, executable: Path | None = None) -> None:
        self.executable = executable or find_executable()
        self.port = 0
        self._dir: Path | None = None
        self._process: process.ServiceProcess | None = None

    @property
    def endpoint(self) -> str:
        """The account endpoint, as `COSMOS_ENDPOINT` would name it."""
        return f"https://127.0.0.1:{self.port}/"

    def new_database_name(self) -> str:
        """A database name no other test uses on this server."""
        return f"tsched-{uuid.uuid4().hex[:12]}"

    def start(self) -> None:
        """Start the server and wait until it lists its databases to a client."""
        run_dir = Path(tempfile.mkdtemp(prefix="tsched-cosmos-"))
        self._dir = run_dir
        (self.port,) = process.free_ports(1)
        self._process = process.ServiceProcess(
            name="cosmosdb-server",
            argv=[str(self.executable), "--host", "127.0.0.1", "--port", str(self.port)],
            log_path=run_dir / "cosmosdb-server.log",
            cwd=run_dir,
            stop_timeout=10.0,
        )

        def answers() -> bool:
            list(client(self.endpoint).list_databases())
            return True

        self._process.start(answers, timeout=START_TIMEOUT)

    def stop(self) -> None:
        """Stop the server process (its data goes with it)."""
        if self._process is not None:
            self._process.stop()

    def close(self) -> None:
        """Stop the server and delete its log."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
