"""Alembic environment: one history for SQLite, PostgreSQL and Azure SQL.

Where the database comes from, first match wins:

1. a connection handed over by `scheduler.adapters.sql.migrate` (`config.attributes`),
   already inside the transaction the caller commits;
2. a URL handed over the same way (`config.attributes["url"]`, used for `--sql` output);
3. `alembic -x url=...`;
4. the `DATABASE_URL` environment variable (the setting `tsched` itself reads);
5. `sqlalchemy.url` in alembic.ini.

Online, the whole upgrade runs in one transaction on every dialect (SQLite included:
Alembic would otherwise commit after each DDL statement there). On SQLite, operations run
in batch mode ("move and copy"), since SQLite alters little in place; a batch migration
that rebuilds a table other tables reference must switch foreign keys off outside the
transaction first (Alembic docs, "Dealing with Referencing Foreign Keys").
"""

from __future__ import annotations

import logging.config
import os

import sqlalchemy as sa
from alembic import context

from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import tables

config = context.config
target_metadata = tables.metadata

# Only the alembic command configures logging; `tsched migrate` and tests keep their own.
if config.config_file_name is not None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    given = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = given or os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass -x url=..., set DATABASE_URL or sqlalchemy.url")
    return str(url)


def _options(dialect_name: str) -> dict[str, object]:
    return {
        "target_metadata": target_metadata,
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
    }


def run_offline() -> None:
    """Write the SQL to the output instead of running it (`alembic upgrade head --sql`)."""
    url = _url()
    backend = sa.make_url(url).get_backend_name()
    dialect_opts: dict[str, object] = {"paramstyle": "named"}
    if backend == "mssql":
        # Connected, SQLAlchemy asks the server; offline it would assume an old SQL Server
        # and write TEXT for Text. Azure SQL is current: VARCHAR(max), as online.
        dialect_opts["deprecate_large_types"] = True
    context.configure(url=url, literal_binds=True, dialect_opts=dialect_opts, **_options(backend))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations against the database, in one transaction."""
    connection: sa.Connection | None = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_options(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sql_engine.create_engine(_url())
    try:
        with engine.begin() as new_connection:
            context.configure(connection=new_connection, **_options(engine.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
