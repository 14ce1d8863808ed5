"""The T-SQL that gives the app's managed identity its Azure SQL access, by snapshot
(SQL Server cannot run here), and the deploy step's wait for the server's firewall."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from scripts.azure import sql_access

IDENTITY = "id-tsched-abc123"

#: The whole script for an ordinary identity name: what the deploy step runs, and what an
#: administrator pastes into the query editor after `sql_access.py render`.
EXPECTED_SCRIPT = """\
-- Azure SQL access of the tsched function app's managed identity.
-- Written by scripts/azure/sql_access.py; safe to run again.
SET NOCOUNT ON;
SET XACT_ABORT ON;

IF EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'id-tsched-abc123' AND type <> 'E')
BEGIN
    THROW 50000, N'A database principal with the app identity''s name exists and is not a \
Microsoft Entra user: drop or rename it, then run this again.', 1;
END;

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'id-tsched-abc123')
BEGIN
    CREATE USER [id-tsched-abc123] FROM EXTERNAL PROVIDER;
END;

-- The app reads and writes every table.
IF NOT EXISTS (
    SELECT 1
    FROM sys.database_role_members AS m
    JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id
    JOIN sys.database_principals AS u ON u.principal_id = m.member_principal_id
    WHERE r.name = N'db_datareader' AND u.name = N'id-tsched-abc123'
)
BEGIN
    ALTER ROLE [db_datareader] ADD MEMBER [id-tsched-abc123];
END;
IF NOT EXISTS (
    SELECT 1
    FROM sys.database_role_members AS m
    JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id
    JOIN sys.database_principals AS u ON u.principal_id = m.member_principal_id
    WHERE r.name = N'db_datawriter' AND u.name = N'id-tsched-abc123'
)
BEGIN
    ALTER ROLE [db_datawriter] ADD MEMBER [id-tsched-abc123];
END;

-- The app never changes the schema: migrations do, as the deploying principal.
IF EXISTS (
    SELECT 1
    FROM sys.database_role_members AS m
    JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id
    JOIN sys.database_principals AS u ON u.principal_id = m.member_principal_id
    WHERE r.name = N'db_ddladmin' AND u.name = N'id-tsched-abc123'
)
BEGIN
    ALTER ROLE [db_ddladmin] DROP MEMBER [id-tsched-abc123];
END;
IF EXISTS (
    SELECT 1
    FROM sys.database_role_members AS m
    JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id
    JOIN sys.database_principals AS u ON u.principal_id = m.member_principal_id
    WHERE r.name = N'db_owner' AND u.name = N'id-tsched-abc123'
)
BEGIN
    ALTER ROLE [db_owner] DROP MEMBER [id-tsched-abc123];
END;
"""


def test_access_script_for_an_ordinary_identity_name_matches_the_snapshot() -> None:
    assert sql_access.access_script(IDENTITY) == EXPECTED_SCRIPT


def test_access_script_grants_read_and_write_and_never_a_role_that_changes_the_schema() -> None:
    script = sql_access.access_script(IDENTITY)

    added = re.findall(r"ALTER ROLE \[(\w+)\] ADD MEMBER", script)
    dropped = re.findall(r"ALTER ROLE \[(\w+)\] DROP MEMBER", script)
    assert added == ["db_datareader", "db_datawriter"]
    assert dropped == ["db_ddladmin", "db_owner"]
    assert "GRANT" not in script
    assert script.count("CREATE USER") == 1


@pytest.mark.parametrize(
    ("identity", "bracketed", "literal"),
    [
        ("we]ird", "[we]]ird]", "N'we]ird'"),
        ("o'brien]", "[o'brien]]]", "N'o''brien]'"),
        ("[x]", "[[x]]]", "N'[x]'"),
        (
            "x]; DROP TABLE operation; --",
            "[x]]; DROP TABLE operation; --]",
            "N'x]; DROP TABLE operation; --'",
        ),
        ("x'); DROP USER dbo; --", "[x'); DROP USER dbo; --]", "N'x''); DROP USER dbo; --'"),
    ],
)
def test_access_script_quotes_every_use_of_an_awkward_identity_name(
    identity: str, bracketed: str, literal: str
) -> None:
    script = sql_access.access_script(identity)

    # The name appears only as a delimited identifier (`]` doubled) or a Unicode literal
    # (`'` doubled): take those away and no trace of it is left to be read as T-SQL.
    assert script.count(bracketed) == 1 + len(sql_access.APP_ROLES) + len(sql_access.SCHEMA_ROLES)
    assert script.count(literal) == 2 + len(sql_access.APP_ROLES) + len(sql_access.SCHEMA_ROLES)
    rest = script.replace(bracketed, "[NAME]").replace(literal, "N'NAME'")
    assert rest == sql_access.access_script("NAME")


def test_quote_name_doubles_closing_brackets_like_quotename() -> None:
    assert sql_access.quote_name("a]b]]c") == "[a]]b]]]]c]"
    assert sql_access.quote_name("a[b") == "[a[b]"


def test_quote_string_doubles_single_quotes() -> None:
    assert sql_access.quote_string("it's") == "N'it''s'"


@pytest.mark.parametrize("name", ["", "x" * 129, "line\nbreak", "nul\x00"])
def test_a_name_sql_server_cannot_hold_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="database principal name"):
        sql_access.access_script(name)


def test_a_name_of_128_characters_is_accepted() -> None:
    assert "[" + "x" * 128 + "]" in sql_access.access_script("x" * 128)


def test_render_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert sql_access.main(["render", "--identity", IDENTITY]) == 0

    assert capsys.readouterr().out == EXPECTED_SCRIPT


# The deploy step's wait: a new firewall rule takes a while to admit the runner.


def _odbc_error(native: int, text: str) -> sa.exc.DBAPIError:
    """A SQLAlchemy error wrapping a pyodbc error the way pyodbc words its message."""
    message = f"[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]{text} ({native})"
    driver_error = Exception("42000", f"{message} (SQLDriverConnect)")
    return sa.exc.DBAPIError("SELECT 1", {}, driver_error)


FIREWALL_REFUSED = _odbc_error(
    40615,
    "Cannot open server 'sql-tsched' requested by the login. Client with IP address "
    "'203.0.113.7' is not allowed to access the server.",
)
LOGIN_FAILED = _odbc_error(18456, "Login failed for user '<token-identified principal>'.")


class _Clock:
    """A settable monotonic clock; `sleep` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_wait_retries_while_the_firewall_refuses_then_returns_the_attempts() -> None:
    clock = _Clock()
    outcomes: list[BaseException | None] = [FIREWALL_REFUSED, FIREWALL_REFUSED, None]

    def connect() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    attempts = sql_access.wait_until_admitted(
        connect, timeout=300, interval=15, sleep=clock.sleep, clock=clock
    )

    assert attempts == 3
    assert clock.slept == [15, 15]


def test_wait_raises_at_once_an_error_that_waiting_cannot_cure() -> None:
    clock = _Clock()

    def connect() -> None:
        raise LOGIN_FAILED

    with pytest.raises(sa.exc.DBAPIError) as raised:
        sql_access.wait_until_admitted(connect, sleep=clock.sleep, clock=clock)

    assert raised.value is LOGIN_FAILED
    assert clock.slept == []


def test_wait_gives_up_with_the_firewall_error_at_the_deadline() -> None:
    clock = _Clock()

    def connect() -> None:
        raise FIREWALL_REFUSED

    with pytest.raises(sa.exc.DBAPIError) as raised:
        sql_access.wait_until_admitted(
            connect, timeout=60, interval=15, sleep=clock.sleep, clock=clock
        )

    assert raised.value is FIREWALL_REFUSED
    assert clock.now <= 60
    assert len(clock.slept) == 4


def test_a_transient_error_is_waited_out_too() -> None:
    database_starting = _odbc_error(40613, "Database 'tsched' is not currently available.")

    assert sql_access.admits_later(database_starting)
    assert sql_access.admits_later(FIREWALL_REFUSED)
    assert not sql_access.admits_later(LOGIN_FAILED)
    assert not sql_access.admits_later(ValueError("(40615)"))


def test_grant_and_wait_refuse_a_url_that_is_not_azure_sql() -> None:
    with pytest.raises(SystemExit, match="mssql"):
        sql_access.azure_sql_engine("postgresql+psycopg://db.example/tsched")
