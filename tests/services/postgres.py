"""A throwaway PostgreSQL cluster on 127.0.0.1: initdb into a temp dir, run postgres, remove."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg import sql

from tests.services import process

#: Database created in every cluster for the application's schema.
APP_DATABASE = "tsched"
SUPERUSER = "postgres"
START_TIMEOUT = 30.0


def find_bindir() -> Path:
    """Directory holding initdb and postgres.

    ``TSCHED_PG_BINDIR`` wins; else Debian's newest ``/usr/lib/postgresql/N/bin``; else the
    directory of ``initdb`` on PATH. Debian does not put initdb on PATH.
    """
    configured = os.environ.get("TSCHED_PG_BINDIR")
    if configured:
        return Path(configured)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise process.ServiceStartError(
        "PostgreSQL's initdb was not found; scripts/test installs Debian's postgresql"
    )


class PostgresServer:
    """A PostgreSQL cluster of our own, with trust auth for ``postgres`` on loopback.

    As root the cluster is owned and run by an unprivileged user, since initdb and postgres
    refuse root. Synchronous commit and fsync keep their defaults: tests see real durability.
    """

    def __init__(self, *, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.port = 0
        self._dir: Path | None = None
        self._process: process.ServiceProcess | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of ``database`` on this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb a fresh cluster, start it, and create ``APP_DATABASE``."""
        user = process.run_as()
        run_dir = Path(tempfile.mkdtemp(prefix="tsched-postgres-"))
        self._dir = run_dir
        process.give_to(run_dir, user)
        data_dir = run_dir / "data"
        process.run_step(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                # Skips only initdb's own flush of the new files; the server keeps fsync on.
                "--no-sync",
                "--no-instructions",
            ],
            log_path=run_dir / "initdb.log",
            cwd=run_dir,
            user=user,
        )
        (self.port,) = process.free_ports(1)
        self._process = process.ServiceProcess(
            name="postgres",
            argv=[
                str(self.bindir / "postgres"),
                "-D",
                str(data_dir),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                # No Unix socket: the default directory belongs to the system cluster's user.
                "-c",
                "unix_socket_directories=",
            ],
            log_path=run_dir / "postgres.log",
            cwd=run_dir,
            user=user,
            # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for clients to leave.
            stop_signal=signal.SIGINT,
            stop_timeout=15.0,
        )
        self._process.start(self._accepts_connections, timeout=START_TIMEOUT)
        with self._connect("postgres") as connection:
            connection.autocommit = True
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(APP_DATABASE)))

    def _connect(self, database: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            connect_timeout=2,
        )

    def _accepts_connections(self) -> bool:
        with self._connect("postgres") as connection:
            connection.execute("SELECT 1")
        return True

    def stop(self) -> None:
        """Fast shutdown of the server; the data directory stays."""
        if self._process is not None:
            self._process.stop()

    def resume(self) -> None:
        """Start the stopped server again on the same data and port; returns once it
        accepts connections."""
        if self._process is None:
            raise RuntimeError("resume() before start()")
        self._process.start(self._accepts_connections, timeout=START_TIMEOUT)

    def close(self) -> None:
        """Stop the server and delete the cluster and its logs."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the cluster of `server_url`, named `prefix` plus a
    random suffix; its SQLAlchemy URL is yielded, and the database dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
