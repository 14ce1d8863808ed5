"""A test service run as a child process: log file, readiness wait, stop by its own pid."""

from __future__ import annotations

import logging
import os
import pwd
import signal
import socket
import subprocess
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

logger = logging.getLogger(__name__)

#: Unprivileged account that runs services which refuse root (PostgreSQL's initdb).
UNPRIVILEGED_USER = "nobody"

LOG_TAIL_LINES = 60


class ServiceStartError(RuntimeError):
    """A test service did not start; the message ends with the tail of its log."""


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that are free on 127.0.0.1 right now.

    The sockets stay bound until all are chosen, so the ports differ from each other.
    Another process could still take one before the service binds it; on this
    single-user machine that race has not been seen.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_as() -> str | None:
    """The user to run root-refusing services as: ``UNPRIVILEGED_USER`` under root, else None."""
    return UNPRIVILEGED_USER if os.geteuid() == 0 else None


def give_to(path: Path, user: str | None) -> None:
    """Make ``path`` (a directory we just created) owned by ``user``; no-op for None."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    if not path.exists():
        return f"(no log at {path})"
    with path.open(encoding="utf-8", errors="replace") as log:
        return "".join(deque(log, maxlen=lines))


def run_step(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> None:
    """Run a one-shot setup command (initdb, storage format) to completion, logging to a file.

    Raises ServiceStartError with the log tail when it fails or overruns ``timeout``.
    """
    with log_path.open("ab") as log:
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                timeout=timeout,
                check=False,
                **_user_kwargs(user),
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceStartError(
                f"{argv[0]} did not finish in {timeout}s; log {log_path}:\n{tail(log_path)}"
            ) from exc
    if result.returncode != 0:
        raise ServiceStartError(
            f"{argv[0]} exited with {result.returncode}; log {log_path}:\n{tail(log_path)}"
        )


def _user_kwargs(user: str | None) -> dict[str, Any]:
    """Popen arguments that drop root for ``user`` (uid, gid, no supplementary groups)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class ServiceProcess:
    """One long-running service process, stopped by its own pid.

    ``start`` may be called again after ``stop``; the log file is appended to, so a
    restarted service keeps the history of earlier runs.
    """

    def __init__(
        self,
        *,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._argv = list(argv)
        self._cwd = cwd
        self._user = user
        self._env = dict(env) if env is not None else None
        self._stop_signal = stop_signal
        self._stop_timeout = stop_timeout
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def start(self, probe: Callable[[], bool], *, timeout: float) -> None:
        """Start the process and wait until ``probe()`` returns True.

        ``probe`` is called repeatedly until ``timeout`` seconds have passed; an exception
        from it counts as "not ready yet". Raises ServiceStartError, with the log tail,
        when the process exits early or the deadline passes; the process is stopped first.
        """
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._log = self.log_path.open("ab")
        self._popen = popen = subprocess.Popen(
            self._argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self._cwd,
            env=self._env,
            **_user_kwargs(self._user),
        )
        logger.info("started %s, pid %s", self.name, popen.pid)
        self._wait_ready(popen, probe, timeout=timeout)

    def _wait_ready(
        self, popen: subprocess.Popen[bytes], probe: Callable[[], bool], *, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            code = popen.poll()
            if code is not None:
                self.stop()
                raise ServiceStartError(
                    f"{self.name} exited with {code} while starting; "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                if probe():
                    return
            except Exception as exc:  # any failure of the probe means "not ready yet"
                last_error = exc
            if time.monotonic() >= deadline:
                self.stop()
                raise ServiceStartError(
                    f"{self.name} not ready after {timeout}s (last probe error: {last_error!r}); "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.05)  # poll interval inside the deadline, not a wait for an outcome

    def stop(self) -> None:
        """Send the stop signal to our pid, then SIGKILL if it outlives ``stop_timeout``."""
        popen, self._popen = self._popen, None
        if popen is not None and popen.poll() is None:
            popen.send_signal(self._stop_signal)
            try:
                popen.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s did not stop within %ss of %s; killing pid %s",
                    self.name,
                    self._stop_timeout,
                    self._stop_signal.name,
                    popen.pid,
                )
                popen.kill()
                popen.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
