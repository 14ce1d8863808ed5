"""The store's engine as `bootstrap.store_engine` builds it from the settings: the pool
size (`DATABASE_POOL_SIZE`) and whose token logs in to Azure SQL (`DATABASE_CREDENTIAL`),
for the runtime and for `tsched migrate` alike."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from azure.identity import AzureCliCredential, ManagedIdentityCredential
from pydantic import ValidationError

from scheduler import bootstrap
from scheduler.config import Settings, load_settings

AZURE_SQL = (
    "mssql+pyodbc://@tsched-sql.database.windows.net:1433/tsched"
    "?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes"
)


@pytest.fixture(autouse=True)
def _without_developer_settings(isolated_settings: None) -> None:
    """Before any other fixture sets a setting, clear the developer's."""


class RecordedEngines:
    """Stands in for `create_engine`, recording its arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, **options: Any) -> sa.Engine:
        self.calls.append({"url": url, **options})
        return sa.create_engine("sqlite://")


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> RecordedEngines:
    recorded = RecordedEngines()
    monkeypatch.setattr(bootstrap, "create_engine", recorded)
    return recorded


def test_the_pool_size_setting_reaches_the_engine(engines: RecordedEngines) -> None:
    settings = Settings(database_url="postgresql+psycopg://tsched@db/tsched", database_pool_size=4)

    bootstrap.store_engine(settings).dispose()

    [call] = engines.calls
    assert call["pool_size"] == 4
    assert call["credential"] is None


def test_the_runtime_takes_its_engine_from_store_engine(engines: RecordedEngines) -> None:
    settings = Settings(database_url="sqlite://", database_pool_size=3)

    bootstrap.build(settings).close()

    [call] = engines.calls
    assert call["pool_size"] == 3


def test_azurecli_logs_in_with_the_azure_cli_credential(engines: RecordedEngines) -> None:
    settings = Settings(database_url=AZURE_SQL, database_credential="azurecli")

    bootstrap.store_engine(settings).dispose()

    [call] = engines.calls
    assert call["url"] == AZURE_SQL
    assert isinstance(call["credential"], AzureCliCredential)


def test_managedidentity_logs_in_with_the_managed_identity(engines: RecordedEngines) -> None:
    settings = Settings(database_url=AZURE_SQL, database_credential="managedidentity")

    bootstrap.store_engine(settings).dispose()

    [call] = engines.calls
    assert isinstance(call["credential"], ManagedIdentityCredential)
    call["credential"].close()


def test_the_pool_size_defaults_to_ten_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().database_pool_size == 10

    monkeypatch.setenv("DATABASE_POOL_SIZE", "4")
    load_settings.cache_clear()

    assert load_settings().database_pool_size == 4


@pytest.mark.parametrize("size", [0, -1])
def test_a_pool_size_below_one_is_refused(size: int) -> None:
    with pytest.raises(ValidationError, match="database_pool_size"):
        Settings(database_pool_size=size)


def test_azurecli_needs_an_azure_sql_url() -> None:
    with pytest.raises(ValidationError, match="DATABASE_CREDENTIAL"):
        Settings(database_url="sqlite://", database_credential="azurecli")


def test_an_unknown_credential_is_refused() -> None:
    with pytest.raises(ValidationError, match="database_credential"):
        Settings.model_validate({"database_url": AZURE_SQL, "database_credential": "password"})
