"""Dependencies point inward (DESIGN.md §1): the domain, the use cases and the adapters
import no face (the API, the CLI, the Functions blueprints) and not the wiring
(`bootstrap`, `runner`, `relay`), so a face's change cannot become a change of what
is stored or decided."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCHEDULER = Path(__file__).resolve().parents[2] / "scheduler"
INNER = ("domain", "service", "adapters")
OUTER = (
    "scheduler.api",
    "scheduler.cli",
    "scheduler.bootstrap",
    "scheduler.runner",
    "scheduler.relay",
)
OUTER_ROOTS = ("function_app", "durable", "main")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", INNER)
def test_an_inner_layer_imports_no_face_and_not_the_wiring(layer: str) -> None:
    offending = {
        str(path.relative_to(SCHEDULER)): sorted(
            name
            for name in _imports(path)
            if name.startswith(OUTER) or name.split(".")[0] in OUTER_ROOTS
        )
        for path in (SCHEDULER / layer).rglob("*.py")
    }

    assert {path: names for path, names in offending.items() if names} == {}
