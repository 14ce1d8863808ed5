"""Schema migrations: Alembic's one history (`migrations/` beside this module) run
against an engine or a URL, for `tsched migrate` and for tests.

The upgrade runs in one transaction on every dialect: it lands whole or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from scheduler.adapters.sql import engine as sql_engine

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

#: The Alembic script directory, inside the package so that a wheel carries it as a
#: checkout does (at the repository root, non-editable installs had none). A path beside
#: this module rather than `importlib.resources`: Alembic reads the files by path, pip
#: always unpacks a package onto disk, and `as_file` cannot copy out a directory before
#: Python 3.12, so it would add nothing.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(*, url: str | None = None, output: TextIO | None = None) -> Config:
    """An Alembic configuration for our migrations, without alembic.ini (so no logging
    set-up and no URL from the file). `url` wins over DATABASE_URL; `output` receives the
    SQL of an offline (`sql=True`) command."""
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.attributes["url"] = url
    return config


def upgrade(engine_or_url: sa.Engine | str, revision: str = "head") -> None:
    """Bring the schema of the database at `engine_or_url` up to `revision` (default: the
    newest). Already there: does nothing. Give an engine to reuse its connection set-up
    (Azure SQL tokens); a URL gets an engine of `engine.create_engine`, disposed after."""
    _run(engine_or_url, lambda config: command.upgrade(config, revision))


def downgrade(engine_or_url: sa.Engine | str, revision: str) -> None:
    """Take the schema back to `revision` (`"base"`: drop every table). Loses data."""
    _run(engine_or_url, lambda config: command.downgrade(config, revision))


def _run(engine_or_url: sa.Engine | str, step: Callable[[Config], None]) -> None:
    if isinstance(engine_or_url, str):
        engine = sql_engine.create_engine(engine_or_url)
        try:
            _run(engine, step)
        finally:
            engine.dispose()
        return
    with engine_or_url.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config)
