"""`tsched migrate` logs in to the store as the runtime does: its engine comes from
`bootstrap.store_engine`, so `DATABASE_CREDENTIAL=azurecli` gives Azure SQL the Azure
CLI's token (a deploy job after `az login`). Azure SQL is not reachable here: the engine
factory is replaced by one that records its arguments and hands back a SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from azure.identity import AzureCliCredential

from scheduler import bootstrap
from scheduler.adapters.sql import engine as sql_engine
from tests.support.cli import run

AZURE_SQL = (
    "mssql+pyodbc://@tsched-sql.database.windows.net:1433/tsched"
    "?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes"
)


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


def test_migrate_with_azurecli_logs_in_with_the_cli_credential_and_migrates_that_engine(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = tmp_path / "stand-in.sqlite3"
    calls: list[dict[str, Any]] = []

    def recorded(url: str, **options: Any) -> sa.Engine:
        calls.append({"url": url, **options})
        return sql_engine.create_engine(f"sqlite:///{database}")

    monkeypatch.setattr(bootstrap, "create_engine", recorded)
    monkeypatch.setenv("DATABASE_URL", AZURE_SQL)
    monkeypatch.setenv("DATABASE_CREDENTIAL", "azurecli")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "2")

    assert run(capsys, "migrate") == (0, "tsched: store is at the latest version\n", "")

    [call] = calls
    assert call["url"] == AZURE_SQL
    assert isinstance(call["credential"], AzureCliCredential)
    assert call["pool_size"] == 2
    # The engine handed back is the one migrated.
    engine = sql_engine.create_engine(f"sqlite:///{database}")
    try:
        assert "schedule" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_migrate_refuses_azurecli_for_a_store_that_is_not_azure_sql(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'tsched.sqlite3'}")
    monkeypatch.setenv("DATABASE_CREDENTIAL", "azurecli")

    status, out, err = run(capsys, "migrate")

    assert (status, out) == (2, "")
    assert "DATABASE_CREDENTIAL applies to mssql+pyodbc DATABASE_URLs only" in err
