"""Settings of tsched, read from the environment and `local.settings.json` Values.

Each setting has one name, used verbatim as an environment variable, as a key of the
`Values` object in `local.settings.json` and as an app setting in `bicep/`: the upper-case
form of the field name below (`database_url` is `DATABASE_URL`). A test checks that the
three places agree.

Nothing is read at import time: call `load_settings()`.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scheduler.adapters import eventhubs
from scheduler.domain import audit, errors, reminder

__all__ = ["LOCAL_SETTINGS_FILE", "Settings", "load_settings"]

LOCAL_SETTINGS_FILE = Path("local.settings.json")
"""The Functions local settings file, relative to the working directory. Its `Values`
apply below environment variables, so `tsched` and `func start` see the same settings."""

_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg", "mssql+pyodbc"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
_BOOTSTRAP_SERVER = re.compile(rf"(?:\[[0-9A-Fa-f:.]+\]|{_HOST}):(?P<port>\d{{1,5}})")
_KAFKA_TOPIC = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}")
_NAMESPACE = re.compile(rf"{_HOST}\.{_HOST}|localhost")
_CRON_ELEMENT = re.compile(r"(?:\*|(?P<start>\w+)(?:-(?P<end>\w+))?)(?:/(?P<step>\d+))?")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class _CronField(NamedTuple):
    name: str
    lowest: int
    highest: int
    names: tuple[str, ...] = ()  # names of the values from `lowest` on


_CRON_FIELDS = (
    _CronField("second", 0, 59),
    _CronField("minute", 0, 59),
    _CronField("hour", 0, 23),
    _CronField("day", 1, 31),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day of week", 0, 6, _WEEKDAYS),
)


class Settings(BaseSettings):
    """Validated settings; build it with `load_settings()`.

    Optional settings left empty (`""`) are `None`: the feature they configure is off.
    """

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )

    database_url: SecretStr = SecretStr("sqlite:///./tsched.sqlite3")
    """SQLAlchemy URL of the store: `sqlite` (the embedded default, a file in the working
    directory), `postgresql+psycopg` or `mssql+pyodbc` (Azure SQL). Secret because a
    PostgreSQL URL may carry a password."""

    database_credential: Literal["managedidentity", "azurecli"] | None = None
    """Whose Entra ID token logs in to Azure SQL (only for `mssql+pyodbc` URLs, which
    then name no user): `managedidentity`, the app's managed identity (`AZURE_CLIENT_ID`
    when user-assigned), as the Functions app runs; `azurecli`, whoever the Azure CLI is
    logged in as (`az login`), as a deploy job runs `tsched migrate`. `None`: the URL
    carries the login."""

    database_pool_size: int = Field(default=10, gt=0)
    """Connections to PostgreSQL or Azure SQL one process keeps open; a burst may open as
    many again, closed when returned, so a process holds at most twice this. Many
    Functions instances share one database, each instance's worker holding its own pool,
    so Bicep sets it lower (4) to keep instances x 2 x this within the database's limits.
    The SQLite store ignores it."""

    azure_client_id: str | None = None
    """Client id (a GUID) of the user-assigned managed identity; `None` means the
    system-assigned identity or, locally, the developer's own credential."""

    kafka_bootstrap_servers: str | None = None
    """Comma-separated `host:port` list of Kafka brokers; `None` keeps the events in the
    outbox, readable with `tsched events`."""

    kafka_topic: str = "tsched.events"
    """Topic the outbox relay publishes the CloudEvents to (on Event Hubs: the event
    hub's name)."""

    kafka_security: Literal["none", "eventhubs"] = "none"
    """How the outbox relay reaches `KAFKA_BOOTSTRAP_SERVERS`: `none`, plain Kafka with
    neither TLS nor a login (a local broker, the tests); `eventhubs`, the Kafka endpoint
    of an Azure Event Hubs namespace (`<namespace>.servicebus.windows.net:9093`, one
    namespace) over SASL_SSL, logged in with OAUTHBEARER tokens of the app's managed
    identity (`AZURE_CLIENT_ID` when user-assigned) for that namespace, as the Functions
    app runs."""

    dispatch_schedule: str = "*/5 * * * * *"
    """NCRONTAB expression (six fields, from seconds) of the dispatch timer, in UTC:
    Flex Consumption ignores `WEBSITE_TIME_ZONE`."""

    dispatch_batch_size: int = Field(default=500, gt=0)
    """Most operations one dispatch run claims."""

    dispatch_chunk_size: int = Field(default=100, gt=0)
    """Most claimed operations one Durable execute activity runs: a claimed batch fans
    out over `DISPATCH_BATCH_SIZE / DISPATCH_CHUNK_SIZE` activities, which may run on
    different instances. Smaller chunks spread a batch wider; larger ones keep the
    orchestration history shorter."""

    lease_seconds: int = Field(default=60, gt=0)
    """Seconds a claimed operation stays leased to its worker; after that another worker
    may claim it again."""

    reminder_offsets: Annotated[tuple[reminder.ReminderOffset, ...], NoDecode] = tuple(
        reminder.ReminderOffset.parse(text) for text in reminder.DEFAULT_OFFSETS
    )
    """How long before an operation's due time its reminders fire, from the earliest.
    Written as comma-separated ISO 8601 durations (`P3D,P1D,PT1H`), read by the same
    rule as a schedule's reminders (`domain.reminder`): weeks, days, hours and minutes;
    months and years are refused, having no fixed length. Empty means no reminders."""

    cosmos_endpoint: str | None = None
    """Cosmos DB account endpoint of the history and audit archive; `None` turns the
    archive off: SQL then keeps every attempt and audit record, and nothing is purged."""

    cosmos_database: str = Field(default="tsched", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
    """Cosmos DB database holding the archive's containers (`history`, `audit`)."""

    archive_hot_months: int = Field(default=13, gt=0, le=120)
    """Calendar months of history and audit records SQL keeps (the hot window), counted
    back from now. With the archive on, older rows the archive has confirmed are purged
    from SQL, and reads of older ranges go to the archive; 13 covers a year and the
    month it is compared with."""

    archive_schedule: str = "0 * * * * *"
    """NCRONTAB expression (six fields, UTC) of the archive timer in Azure: each tick
    copies new history and sealed audit records to the archive for up to a minute and
    purges SQL's rows past the hot window. A tick still running when the next comes
    makes that one wait (a timer function runs on one instance at a time)."""

    archive_retention_days: int = Field(default=audit.RETENTION_DAYS, gt=0)
    """Days an archived item lives in Cosmos DB, counted from when it happened (its
    finish or occurrence time), not from when it was archived: each item's `ttl` is the
    time left. 7 x 366 days by default, never short of seven calendar years."""

    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Port on 127.0.0.1 where a local process (`tsched serve`) serves its metrics in
    Prometheus' text format at `/metrics`; `None` serves none. In Azure the metrics go
    to Application Insights instead (`APPLICATIONINSIGHTS_CONNECTION_STRING`)."""

    traces_file: Path | None = None
    """File a local process appends its trace spans to, one JSON object a line
    (`scheduler.tracing`); `None` exports none. In Azure the spans go to Application
    Insights instead (`APPLICATIONINSIGHTS_CONNECTION_STRING`)."""

    servicebus_namespace: str | None = None
    """Fully qualified Service Bus namespace (`<name>.servicebus.windows.net`, not a
    URL); `None` turns the Service Bus integration off."""

    dead_operations_schedule: str = "*/30 * * * * *"
    """NCRONTAB expression (six fields, UTC) of the timer that sends operations whose
    retries are exhausted to the `operations-dead` queue, when `SERVICEBUS_NAMESPACE`
    is set: a dead operation reaches operations staff within about this period."""

    blob_account_url: str | None = None
    """Blob service URL of the account holding exports; `None` turns exports to Blob
    storage off. In Azure an `https` URL, reached with the managed identity
    (`AZURE_CLIENT_ID`), links signed with user delegation keys; locally Azurite's
    `http://127.0.0.1:10000/devstoreaccount1`, reached with its published key."""

    export_link_threshold_rows: int = Field(default=10_000, gt=0)
    """Where the API runs as an Azure Function, which holds a whole response in memory
    before it sends it: a history download of more attempts than this is written to
    Blob storage (`BLOB_ACCOUNT_URL`) and answered with a link to it; this many or
    fewer are the response. A value above the 10,000 attempts a response there may
    hold (`function_app.http_api.MAX_EXPORT_ROWS`) acts as 10,000. Under uvicorn,
    which streams, a download is a link only when asked (`?delivery=link`)."""

    export_link_seconds: int = Field(default=900, gt=0, le=86_400)
    """Seconds a download link works, from when it is answered: 15 minutes. At most a
    day, as the exports container deletes what it holds after a day
    (bicep/app/storage.bicep): a longer link would outlive its file."""

    api_jwks_url: str | None = None
    """JWKS document of the identity provider whose bearer tokens the API accepts
    (Entra ID: `https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys`). `None`
    accepts tokens of the local development signer only (`tsched token`)."""

    api_issuer: str | None = None
    """The `iss` the API requires, with `API_JWKS_URL` (Entra ID:
    `https://login.microsoftonline.com/<tenant>/v2.0`)."""

    api_audience: str = "api://tsched"
    """The `aud` the API requires: the application ID URI of its app registration."""

    api_max_body_bytes: int = Field(default=65_536, gt=0)
    """Most bytes a request body to the API may hold; a larger one is answered 413
    before it is read whole or parsed (`scheduler.api.body_limit`). The largest body
    the API takes, a schedule with every field at its longest, is 813 bytes as plain
    JSON and about 2.4 KB with its reference written as `\\u` escapes: 64 KiB leaves
    room to grow while a flood of large bodies costs neither memory nor parsing time."""

    core_banking_url: str | None = None
    """Base URL of the core-banking payments API the transfers go to; `None` uses the
    embedded double-entry ledger in the store (local runs and demonstrations)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read arguments first, then the environment, then `local.settings.json`."""
        local_values = _local_settings_values(LOCAL_SETTINGS_FILE)
        known = {
            name: local_values[name.upper()]
            for name in settings_cls.model_fields
            if name.upper() in local_values
        }
        return init_settings, env_settings, InitSettingsSource(settings_cls, known)

    @field_validator(
        "database_credential",
        "azure_client_id",
        "kafka_bootstrap_servers",
        "cosmos_endpoint",
        "servicebus_namespace",
        "metrics_port",
        "traces_file",
        "blob_account_url",
        "core_banking_url",
        "api_jwks_url",
        "api_issuer",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_dialect(cls, value: SecretStr) -> SecretStr:
        _drivername(value)
        return value

    @field_validator("azure_client_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("must be a GUID, the client id of a managed identity") from None

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_servers(cls, value: str | None) -> str | None:
        if value is None:
            return None
        servers = [server.strip() for server in value.split(",")]
        for server in servers:
            match = _BOOTSTRAP_SERVER.fullmatch(server)
            if match is None or not 0 < int(match["port"]) < 65536:
                raise ValueError(f"{server!r} is not host:port (a comma-separated list)")
        return ",".join(servers)

    @field_validator("kafka_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not _KAFKA_TOPIC.fullmatch(value):
            raise ValueError("must be 1 to 249 of letters, digits, '.', '_' and '-'")
        return value

    @field_validator("dispatch_schedule", "archive_schedule", "dead_operations_schedule")
    @classmethod
    def _ncrontab(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != len(_CRON_FIELDS):
            raise ValueError(
                "must be an NCRONTAB expression of six fields: "
                "second minute hour day month day-of-week"
            )
        for text, field in zip(fields, _CRON_FIELDS, strict=True):
            _check_cron_field(text, field)
        return " ".join(fields)

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _parse_offsets(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return [
                reminder.ReminderOffset.parse(part.strip())
                for part in value.split(",")
                if part.strip()
            ]
        except errors.InvalidReminder as error:
            raise ValueError(error.message) from None

    @field_validator("reminder_offsets")
    @classmethod
    def _distinct_offsets(
        cls, value: tuple[reminder.ReminderOffset, ...]
    ) -> tuple[reminder.ReminderOffset, ...]:
        if len(set(value)) != len(value):
            raise ValueError("offsets must be distinct")
        return tuple(sorted(value, key=lambda offset: offset.nominal_length, reverse=True))

    @field_validator("cosmos_endpoint", "blob_account_url", "core_banking_url", "api_jwks_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError("must use https:// (http:// only for a local emulator)")
        if parts.username or parts.password or parts.query:
            raise ValueError("must not carry credentials: access is by Entra ID")
        return value

    @field_validator("servicebus_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _NAMESPACE.fullmatch(value):
            raise ValueError(
                "must be a fully qualified namespace such as "
                "'tsched.servicebus.windows.net', not a URL or connection string"
            )
        return value

    @model_validator(mode="after")
    def _credential_needs_mssql(self) -> Settings:
        if self.database_credential and _drivername(self.database_url) != "mssql+pyodbc":
            raise ValueError("DATABASE_CREDENTIAL applies to mssql+pyodbc DATABASE_URLs only")
        return self

    @model_validator(mode="after")
    def _hot_window_within_retention(self) -> Settings:
        # 31 days a month: the longest a hot window can last.
        if self.archive_hot_months * 31 >= self.archive_retention_days:
            raise ValueError("ARCHIVE_HOT_MONTHS must be shorter than ARCHIVE_RETENTION_DAYS")
        return self

    @model_validator(mode="after")
    def _kafka_security_fits_the_brokers(self) -> Settings:
        servers = self.kafka_bootstrap_servers
        if self.kafka_security == "eventhubs":
            if servers is None:
                raise ValueError(
                    "KAFKA_SECURITY=eventhubs needs KAFKA_BOOTSTRAP_SERVERS, the Kafka "
                    "endpoint of the namespace: <namespace>.servicebus.windows.net:9093"
                )
            try:
                eventhubs.namespace(servers)
            except ValueError as error:
                raise ValueError(
                    f"KAFKA_SECURITY=eventhubs: KAFKA_BOOTSTRAP_SERVERS {error}"
                ) from None
        elif servers is not None and eventhubs.names_event_hubs(servers):
            raise ValueError(
                "KAFKA_BOOTSTRAP_SERVERS names an Event Hubs namespace, which takes "
                "SASL_SSL only: set KAFKA_SECURITY=eventhubs"
            )
        return self

    @model_validator(mode="after")
    def _issuer_with_jwks(self) -> Settings:
        if (self.api_jwks_url is None) != (self.api_issuer is None):
            raise ValueError("API_JWKS_URL and API_ISSUER are set together, or neither")
        return self


@functools.cache
def load_settings() -> Settings:
    """Build the settings once per process.

    Raises `pydantic.ValidationError`, naming each bad setting (never its value), when
    a setting is invalid. Tests that change the environment call
    `load_settings.cache_clear()`.
    """
    return Settings()


def _local_settings_values(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: 'Values' must be an object")
    return values


def _drivername(url: SecretStr) -> str:
    try:
        drivername = make_url(url.get_secret_value()).drivername
    except ArgumentError:
        raise ValueError("is not a SQLAlchemy database URL") from None
    if drivername not in _DRIVERS:
        raise ValueError(f"driver {drivername!r} is not one of {', '.join(sorted(_DRIVERS))}")
    return drivername


def _check_cron_field(text: str, field: _CronField) -> None:
    for element in text.split(","):
        match = _CRON_ELEMENT.fullmatch(element)
        # A bare start with a step ("5/15") is not NCRONTAB: write "5-59/15".
        if match is None or (match["step"] and match["start"] and not match["end"]):
            raise ValueError(
                f"{field.name} field {text!r}: {element!r} is not *, n, n-m, */s or n-m/s"
            )
        if match["step"] is not None and int(match["step"]) == 0:
            raise ValueError(f"{field.name} field {text!r}: a step must be positive")
        bounds = [match[part] for part in ("start", "end") if match[part] is not None]
        values = [_cron_value(bound, field) for bound in bounds]
        if len(values) == 2 and values[0] > values[1]:
            raise ValueError(f"{field.name} field {text!r}: range {element!r} runs backwards")


def _cron_value(token: str, field: _CronField) -> int:
    if token.isdigit():
        value = int(token)
    elif token.upper() in field.names:
        value = field.lowest + field.names.index(token.upper())
    else:
        raise ValueError(f"{field.name} field: {token!r} is not a number or a name")
    if not field.lowest <= value <= field.highest:
        raise ValueError(f"{field.name} field: {value} is outside {field.lowest}-{field.highest}")
    return value
