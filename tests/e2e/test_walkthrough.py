"""docs/walkthrough.md, run as written, so that it cannot rot.

The test reads the walkthrough's command blocks (each marked `<!-- walkthrough: NAME -->`)
and runs them in order: the `serve` block as a real `tsched serve` process, every other
block in bash, in one directory, with the variables earlier blocks exported (as in one
terminal), against the served API over real HTTP. It checks each answer, and each output
the walkthrough shows (`<!-- walkthrough-output: NAME -->`, where `...` stands for
anything within a line, such as an id).

It changes three things, and only these: `scripts/run` (which installs `.venv`, then
runs `tsched` with the same arguments) is this interpreter running `scheduler.cli`; the
API listens on a free port rather than 8080; and the transfer falls due in seconds rather
than a minute.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.process import free_ports

REPO_ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = REPO_ROOT / "docs" / "walkthrough.md"
DEADLINE = 30.0
#: The walkthrough's steps, in order: a command block it adds must be checked here too.
STEPS = (
    "serve",
    "open",
    "deposit",
    "deposit-again",
    "list",
    "token",
    "create",
    "executed",
    "history",
    "csv",
    "balances",
)
#: How far ahead the transfer falls due here, instead of the walkthrough's minute.
DUE_IN_SECONDS = 5

_MARKED_BLOCK = re.compile(
    r"<!-- walkthrough(?P<output>-output)?: (?P<name>[a-z-]+) -->\n"
    r"```(?P<language>\w+)\n(?P<body>.*?)```",
    re.DOTALL,
)


@dataclass(frozen=True)
class Walkthrough:
    """The walkthrough's command blocks and shown outputs, by step name, in order."""

    commands: dict[str, str]
    outputs: dict[str, str]

    @classmethod
    def read(cls) -> Walkthrough:
        text = WALKTHROUGH.read_text(encoding="utf-8")
        commands: dict[str, str] = {}
        outputs: dict[str, str] = {}
        for block in _MARKED_BLOCK.finditer(text):
            name, body = block["name"], block["body"]
            found = outputs if block["output"] else commands
            assert name not in found, f"two blocks are marked {name!r}"
            assert block["language"] == ("text" if block["output"] else "sh"), name
            found[name] = body
        # A command block nobody marked would be a command no test runs.
        assert text.count("```sh\n") == len(commands), "every sh block must be a marked step"
        return cls(commands, outputs)


def adapted(command: str, port: int) -> str:
    """`command` as this test runs it (see the module's docstring)."""
    cli = f"{shlex.quote(sys.executable)} -m scheduler.cli"
    return (
        command.replace("scripts/run", cli)
        .replace("8080", str(port))
        .replace("+1 minute", f"+{DUE_IN_SECONDS} seconds")
    )


def shown(expected: str, actual: str) -> bool:
    """Whether `actual` is the output the walkthrough shows as `expected`, where `...`
    stands for anything within a line. A last line may lack its newline (curl's)."""
    pattern = "[^\n]+?".join(re.escape(part) for part in expected.rstrip("\n").split("..."))
    return re.fullmatch(pattern, actual.rstrip("\n")) is not None


class Terminal:
    """The walkthrough's second terminal: each step's commands run in bash, stopping at
    the first that fails, with what earlier steps exported."""

    def __init__(self, directory: Path, environment: dict[str, str]) -> None:
        self._directory = directory
        self._environment = environment
        self._exported = directory / "terminal.env"

    def run(self, commands: str) -> str:
        """Run `commands`; their standard output."""
        exported = shlex.quote(str(self._exported))
        script = (
            "set -euo pipefail\n"
            f"if [ -f {exported} ]; then source {exported}; fi\n"
            f"{commands}\n"
            f"export -p > {exported}\n"
        )
        completed = subprocess.run(
            ["bash", "-c", script],
            cwd=self._directory,
            env=self._environment,
            capture_output=True,
            text=True,
            timeout=DEADLINE * 2,
            check=False,
        )
        assert completed.returncode == 0, (
            f"{commands}\nexited {completed.returncode}:\n{completed.stderr}"
        )
        return completed.stdout


@dataclass(frozen=True)
class Session:
    walkthrough: Walkthrough
    port: int
    directory: Path
    serve: subprocess.Popen[bytes]
    terminal: Terminal

    @property
    def serve_log(self) -> str:
        return (self.directory / "serve.log").read_text(errors="replace")

    def step(self, name: str) -> str:
        """Run step `name`; its output, checked against the one the walkthrough shows."""
        output = self.terminal.run(adapted(self.walkthrough.commands[name], self.port))
        self.check_shown(name, output)
        return output

    def check_shown(self, name: str, output: str) -> None:
        expected = self.walkthrough.outputs.get(name)
        if expected is not None:
            expected = expected.replace("8080", str(self.port))
            assert shown(expected, output), f"step {name} printed\n{output}\nnot\n{expected}"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """Step 1 run: `tsched serve` started in an empty directory (so on a fresh store,
    the default `./tsched.sqlite3`), with no setting but the walkthrough's."""
    walkthrough = Walkthrough.read()
    (port,) = free_ports(1)
    environment = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO_ROOT),
        "HOME": str(tmp_path),
    }
    argv = shlex.split(adapted(walkthrough.commands["serve"], port))
    with (tmp_path / "serve.log").open("wb") as log:
        serve = subprocess.Popen(
            [*argv, "--api-port", str(port)],
            cwd=tmp_path,
            env=environment,
            stdout=log,
            stderr=log,
        )
    running = Session(walkthrough, port, tmp_path, serve, Terminal(tmp_path, environment))
    try:
        until(lambda: _ready(running), "the API answers ready")
        yield running
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def _ready(session: Session) -> bool:
    if session.serve.poll() is not None:
        raise AssertionError(f"tsched serve exited:\n{session.serve_log}")
    try:
        url = f"http://127.0.0.1:{session.port}/v1/health/ready"
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition` holds, at most `DEADLINE` seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.2)


def test_the_walkthrough_runs_as_written_from_a_fresh_store_to_the_csv(
    session: Session,
) -> None:
    walkthrough = session.walkthrough
    assert tuple(walkthrough.commands) == STEPS
    assert set(walkthrough.outputs) <= set(STEPS)
    session.check_shown("serve", "".join(session.serve_log.splitlines(keepends=True)[:2]))

    session.step("open")
    session.step("deposit")
    session.step("deposit-again")
    session.step("list")
    session.step("token")

    before = datetime.now(UTC)
    created: dict[str, Any] = json.loads(session.step("create"))
    assert created["status"] == "active", created
    assert created["customer_id"] == "alice"
    assert (created["schedule"]["debit_account"], created["schedule"]["credit_account"]) == (
        "GB-ALICE-01",
        "GB-BOB-01",
    )
    (execution,) = created["next_executions"]
    due = datetime.fromisoformat(execution["execute_at_utc"])
    assert before < due <= before + timedelta(seconds=DUE_IN_SECONDS + 1)

    schedules: list[dict[str, Any]] = []

    def completed() -> bool:
        schedules[:] = json.loads(session.step("executed"))["items"]
        return [item["status"] for item in schedules] == ["completed"]

    until(completed, "the walkthrough's transfer has executed")
    assert re.search(r"claimed 1 .* 1 succeeded", session.serve_log), session.serve_log
    assert schedules[0]["id"] == created["id"]
    assert schedules[0]["next_executions"] == []

    history = json.loads(session.step("history"))
    assert [
        (
            item["schedule_id"],
            item["status"],
            item["amount"],
            item["debit_account"],
            item["credit_account"],
        )
        for item in history["items"]
    ] == [
        (
            created["id"],
            "succeeded",
            {"value": "120.00", "currency": "GBP"},
            "****E-01",
            "****B-01",
        )
    ]

    rows = list(csv.DictReader(io.StringIO(session.step("csv"))))
    assert [(row["schedule_id"], row["status"], row["amount"]) for row in rows] == [
        (created["id"], "succeeded", "120.00")
    ]

    session.step("balances")

    session.serve.send_signal(signal.SIGINT)  # the walkthrough's Ctrl-C
    assert session.serve.wait(timeout=DEADLINE) == 0


def test_every_command_block_of_the_walkthrough_is_a_step_this_test_runs() -> None:
    walkthrough = Walkthrough.read()

    assert tuple(walkthrough.commands) == STEPS
    assert set(walkthrough.outputs) <= set(STEPS)


def test_the_shown_outputs_match_only_what_they_show() -> None:
    assert shown("entry ..., balance 1\n", "entry 4f2c, balance 1\n")
    assert not shown("entry ..., balance 1\n", "entry 4f2c, balance 2\n")
    assert not shown("a ...\nb\n", "a x\ny\nb\n")
