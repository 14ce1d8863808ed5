"""`tsched` installed from its wheel, as on a machine that deploys without a checkout:
`tsched migrate`, run outside the repository, finds the migrations the wheel carries and
creates every table.

The wheel is built as `pip install .` builds it (in an isolated environment with the
setuptools pyproject.toml asks for, so pip needs the package index or PIP_FIND_LINKS),
from a copy of only what pyproject.toml reads, so nothing else of the checkout can stand
in for a file the wheel lacks. It goes into a new virtual environment without its
dependencies: instead of installing those again (slow), the new environment sees this
one's site-packages through a `.pth` file. A `.pth` line is a plain path, so the `.pth`
files there, among them this environment's editable install of tsched, are not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler.adapters.sql import tables
from tests.support.settings import SETTING_NAMES

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
#: What pyproject.toml reads to build the wheel; nothing else of the checkout is copied.
BUILD_INPUTS = ("pyproject.toml", "requirements.txt", "requirements-dev.txt", "scheduler")
#: Seconds a build, install or command may take before the test fails instead of hanging.
DEADLINE = 120.0


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    ran = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert ran.returncode == 0, f"{command} failed:\n{ran.stdout}{ran.stderr}"
    return ran.stdout


def _venv_path(venv: Path, name: str) -> Path:
    return Path(sysconfig.get_path(name, "venv", vars={"base": venv, "platbase": venv}))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with tsched installed from a freshly built wheel."""
    root = tmp_path_factory.mktemp("wheel")
    source, wheels, venv = root / "source", root / "wheels", root / "venv"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO_ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(REPO_ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)], cwd=root)
    (wheel,) = wheels.glob("tsched-*.whl")

    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    python = _venv_path(venv, "scripts") / "python"
    _run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], cwd=root
    )
    dependencies = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (_venv_path(venv, "purelib") / "tsched-test-dependencies.pth").write_text(
        "".join(f"{path}\n" for path in sorted(dependencies)), encoding="utf-8"
    )
    return venv


def test_tsched_migrate_from_the_installed_wheel_creates_every_table_outside_the_repository(
    venv: Path, tmp_path: Path
) -> None:
    scripts = _venv_path(venv, "scripts")
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTING_NAMES and name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    database = tmp_path / "tsched.sqlite3"
    env["DATABASE_URL"] = f"sqlite:///{database}"
    loaded_from = _run(
        [str(scripts / "python"), "-c", "import scheduler; print(scheduler.__file__)"],
        cwd=tmp_path,
        env=env,
    )

    _run([str(scripts / "tsched"), "migrate"], cwd=tmp_path, env=env)

    assert Path(loaded_from.strip()).is_relative_to(venv)
    engine = sa.create_engine(f"sqlite:///{database}", poolclass=sa.NullPool)
    table_names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert table_names == {"alembic_version", *tables.metadata.tables}


def test_the_installed_wheel_carries_the_operations_page_and_its_assets(
    venv: Path, tmp_path: Path
) -> None:
    check = (
        "from scheduler.api import ops_routes\n"
        "for name in ('index.html', *ops_routes.ASSETS):\n"
        "    assert ops_routes._read(name), name\n"
        "print(ops_routes.__file__)\n"
    )

    loaded_from = _run([str(_venv_path(venv, "scripts") / "python"), "-c", check], cwd=tmp_path)

    assert Path(loaded_from.strip()).is_relative_to(venv)
