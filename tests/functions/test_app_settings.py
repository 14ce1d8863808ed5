"""Each setting has one name in scheduler/config.py, local.settings.sample.json and Bicep."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from scheduler.config import load_settings
from scheduler.domain.reminder import ReminderOffset
from tests.support.settings import SETTING_NAMES

if TYPE_CHECKING:
    pass

ROOT = Path(__file__).resolve().parents[2]
LOCAL_SAMPLE = ROOT / "local.settings.sample.json"
FUNCTIONS_BICEP = ROOT / "bicep" / "app" / "functions.bicep"

#: Settings of the Functions platform, not of tsched: they need no field in Settings.
PLATFORM_SETTINGS = frozenset(
    {
        "FUNCTIONS_WORKER_RUNTIME",
        "PYTHON_SCRIPT_FILE_NAME",
        "AzureWebJobsStorage",
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        # The Service Bus trigger's connection, read by the host, not by tsched.
        "SERVICEBUS__fullyQualifiedNamespace",
        "SERVICEBUS__credential",
        "SERVICEBUS__clientId",
        # Locally, where no namespace is: the host does not start that trigger.
        "AzureWebJobs.schedule_commands.Disabled",
    }
)


_APP_SETTINGS_BLOCK = re.compile(r"^var appSettings = \{\n(?P<body>.*?)^\}", re.M | re.S)
_BICEP_ENTRY = re.compile(r"^\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*):\s*(?P<value>.+?)\s*$")


def _local_values() -> dict[str, str]:
    values: dict[str, str] = json.loads(LOCAL_SAMPLE.read_text(encoding="utf-8"))["Values"]
    return values


def _bicep_app_settings() -> dict[str, str]:
    """Name to Bicep expression of each entry of `var appSettings` in functions.bicep."""
    block = _APP_SETTINGS_BLOCK.search(FUNCTIONS_BICEP.read_text(encoding="utf-8"))
    assert block is not None, "functions.bicep has no `var appSettings = {` block"
    entries = {}
    for line in block["body"].splitlines():
        entry = _BICEP_ENTRY.match(line)
        assert entry is not None, f"cannot read app setting line {line!r}"
        entries[entry["name"]] = entry["value"]
    return entries


def test_local_settings_sample_holds_exactly_the_settings_and_platform_names() -> None:
    names = set(_local_values())
    assert names - PLATFORM_SETTINGS == SETTING_NAMES


def test_bicep_app_settings_hold_exactly_the_settings_and_platform_names() -> None:
    names = set(_bicep_app_settings())
    assert names - PLATFORM_SETTINGS == SETTING_NAMES


def test_entry_script_is_main_py_locally_and_in_azure() -> None:
    assert _local_values()["PYTHON_SCRIPT_FILE_NAME"] == "main.py"
    assert _bicep_app_settings()["PYTHON_SCRIPT_FILE_NAME"] == "'main.py'"
    assert (ROOT / "main.py").is_file()


def test_bicep_leaves_the_worker_runtime_to_flex_consumption_function_app_config() -> None:
    # Flex Consumption takes the runtime from functionAppConfig.runtime, not app settings.
    assert "FUNCTIONS_WORKER_RUNTIME" not in _bicep_app_settings()


def test_host_storage_in_azure_is_reached_with_the_managed_identity() -> None:
    settings = _bicep_app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings


@pytest.mark.usefixtures("isolated_settings")
def test_local_settings_sample_values_are_valid_settings(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(LOCAL_SAMPLE.read_text(encoding="utf-8"))

    settings = load_settings()

    assert settings.database_url.get_secret_value() == "sqlite:///./tsched.sqlite3"
    assert settings.kafka_bootstrap_servers is None
    assert settings.blob_account_url == "http://127.0.0.1:10000/devstoreaccount1"


@pytest.mark.usefixtures("isolated_settings")
def test_environment_overrides_local_settings_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "local.settings.json").write_text(LOCAL_SAMPLE.read_text(encoding="utf-8"))
    monkeypatch.setenv("DISPATCH_BATCH_SIZE", "50")

    assert load_settings().dispatch_batch_size == 50


@pytest.mark.usefixtures("isolated_settings")
def test_defaults_use_the_embedded_sqlite_store_and_keep_events_in_the_outbox() -> None:
    settings = load_settings()

    assert settings.database_url.get_secret_value() == "sqlite:///./tsched.sqlite3"
    assert settings.database_credential is None
    assert settings.kafka_bootstrap_servers is None
    assert settings.dispatch_schedule == "*/5 * * * * *"
    assert settings.dispatch_batch_size == 500
    assert settings.lease_seconds == 60
    assert settings.reminder_offsets == tuple(map(ReminderOffset.parse, ("P3D", "P1D", "PT1H")))


@pytest.mark.usefixtures("isolated_settings")
@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_dispatch_batch_size_must_be_a_positive_integer(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPATCH_BATCH_SIZE", value)

    with pytest.raises(ValidationError, match="dispatch_batch_size"):
        load_settings()


@pytest.mark.usefixtures("isolated_settings")
@pytest.mark.parametrize(
    "schedule",
    [
        "*/5 * * * *",  # five fields: classic cron, not NCRONTAB
        "0 0 24 * * *",
        "0 0 9 * * MON-FRI/0",
        "0 5/15 * * * *",
        "00:05:00",
    ],
)
def test_dispatch_schedule_must_be_a_six_field_ncrontab(
    schedule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPATCH_SCHEDULE", schedule)

    with pytest.raises(ValidationError, match="dispatch_schedule"):
        load_settings()


@pytest.mark.usefixtures("isolated_settings")
def test_dispatch_schedule_accepts_ranges_steps_and_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_SCHEDULE", "0 */10 8-18/2 1,15 JAN-dec MON-FRI")

    assert load_settings().dispatch_schedule == "0 */10 8-18/2 1,15 JAN-dec MON-FRI"


@pytest.mark.usefixtures("isolated_settings")
def test_reminder_offsets_are_iso_durations_sorted_from_the_earliest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REMINDER_OFFSETS", "PT30M, P1W, P1DT12H")

    assert load_settings().reminder_offsets == (
        ReminderOffset(days=7, elapsed=timedelta(0)),
        ReminderOffset(days=1, elapsed=timedelta(hours=12)),
        ReminderOffset(days=0, elapsed=timedelta(minutes=30)),
    )


@pytest.mark.usefixtures("isolated_settings")
@pytest.mark.parametrize("offsets", ["P1M", "P1Y", "PT", "P1D,P1D", "P0D", "3 days"])
def test_reminder_offsets_refuse_calendar_units_zero_and_duplicates(
    offsets: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMINDER_OFFSETS", offsets)

    with pytest.raises(ValidationError, match="reminder_offsets"):
        load_settings()


@pytest.mark.usefixtures("isolated_settings")
def test_database_credential_needs_an_azure_sql_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_CREDENTIAL", "managedidentity")

    with pytest.raises(ValidationError, match="mssql"):
        load_settings()


@pytest.mark.usefixtures("isolated_settings")
def test_azure_sql_with_managed_identity_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DATABASE_URL",
        "mssql+pyodbc://@sql-x.database.windows.net:1433/tsched"
        "?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes",
    )
    monkeypatch.setenv("DATABASE_CREDENTIAL", "managedidentity")
    monkeypatch.setenv("AZURE_CLIENT_ID", "5F0B0E5C-6A0C-4C3B-9C64-0D3E0F3A1B2C")

    settings = load_settings()

    assert settings.database_credential == "managedidentity"
    assert settings.azure_client_id == "5f0b0e5c-6a0c-4c3b-9c64-0d3e0f3a1b2c"


@pytest.mark.usefixtures("isolated_settings")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "postgresql://tsched@db/tsched"),  # psycopg2, not installed
        ("DATABASE_URL", ""),  # empty must not fall back to a local file in Azure
        ("AZURE_CLIENT_ID", "my-identity"),
        ("KAFKA_BOOTSTRAP_SERVERS", "broker-without-port"),
        ("KAFKA_TOPIC", ".."),
        ("COSMOS_ENDPOINT", "http://cosmos.example.com/"),
        ("BLOB_ACCOUNT_URL", "https://st.blob.core.windows.net/?sv=2024&sig=x"),
        ("SERVICEBUS_NAMESPACE", "sb://tsched.servicebus.windows.net/"),
    ],
)
def test_bad_values_are_refused_without_echoing_them(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.lower()) as error:
        load_settings()

    assert "input_value" not in str(error.value)


@pytest.mark.usefixtures("isolated_settings")
def test_empty_optional_settings_turn_their_feature_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "COSMOS_ENDPOINT", "SERVICEBUS_NAMESPACE"):
        monkeypatch.setenv(name, "")

    settings = load_settings()

    assert settings.kafka_bootstrap_servers is None
    assert settings.cosmos_endpoint is None
    assert settings.servicebus_namespace is None


@pytest.mark.usefixtures("isolated_settings")
@pytest.mark.parametrize("only", ["API_JWKS_URL", "API_ISSUER"])
def test_the_api_token_issuer_and_its_keys_are_set_together(
    monkeypatch: pytest.MonkeyPatch, only: str
) -> None:
    monkeypatch.setenv(only, "https://login.example.com/tenant/discovery/v2.0/keys")

    with pytest.raises(ValidationError, match="API_JWKS_URL and API_ISSUER"):
        load_settings()


@pytest.mark.usefixtures("isolated_settings")
def test_the_api_accepts_development_tokens_only_when_no_issuer_is_configured() -> None:
    settings = load_settings()

    assert (settings.api_jwks_url, settings.api_issuer) == (None, None)
    assert settings.api_audience == "api://tsched"
