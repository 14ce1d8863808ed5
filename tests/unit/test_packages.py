"""Each package's `__all__` lists exactly its public modules (those whose names do not
start with an underscore), besides names its `__init__.py` itself provides, such as
`durable.blueprint`: a module added, renamed or removed without its `__init__.py`
following fails here. The packages are the ones mypy checks (pyproject.toml) and all
their subpackages."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from scheduler.adapters.sql import migrate

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"][
    "packages"
]


def _directories_of_modules() -> list[Path]:
    """Every directory under the top-level packages that holds Python files, but
    Alembic's script directory: data read by path, never imported."""
    found = {
        path.parent
        for top in TOP_LEVEL
        for path in (ROOT / top).rglob("*.py")
        if not path.is_relative_to(migrate.MIGRATIONS_DIR)
    }
    return sorted(found)


def _dotted(directory: Path) -> str:
    return ".".join(directory.relative_to(ROOT).parts)


def test_every_directory_of_modules_is_a_package_with_an_init() -> None:
    """A directory without `__init__.py` is a namespace package, which `pkgutil` (and so
    the test below) does not see as a module of its parent."""
    without = [
        _dotted(path) for path in _directories_of_modules() if not (path / "__init__.py").exists()
    ]

    assert without == []


@pytest.mark.parametrize("name", [_dotted(path) for path in _directories_of_modules()])
def test_each_package_lists_exactly_its_public_modules_in_all(name: str) -> None:
    package = importlib.import_module(name)
    assert hasattr(package, "__all__"), f"{name} has no __all__"
    listed = set(package.__all__)
    modules = {
        module.name
        for module in pkgutil.iter_modules(package.__path__)
        if not module.name.startswith("_")
    }
    own_names = {
        entry
        for entry in listed - modules
        if hasattr(package, entry) and not isinstance(getattr(package, entry), ModuleType)
    }
    missing, stale = sorted(modules - listed), sorted(listed - modules - own_names)

    assert (missing, stale) == ([], []), f"{name}.__all__: add {missing}, remove {stale}"
