"""Running `tsched` in-process and reading the tables it prints."""

from __future__ import annotations

import itertools
import re

import pytest

from scheduler import cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `tsched argv...`."""
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def columns(table: str) -> dict[str, tuple[str, ...]]:
    """A printed table's cells by column, each cut where its header starts."""
    header, *rows = table.splitlines()
    starts = [match.start() for match in re.finditer(r"(?:^|(?<=  ))\S", header)]
    bounds = list(itertools.pairwise([*starts, None]))
    names = [header[begin:end].strip() for begin, end in bounds]
    cells = [tuple(row[begin:end].strip() for row in rows) for begin, end in bounds]
    return dict(zip(names, cells, strict=True))
