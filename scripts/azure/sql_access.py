"""Azure SQL access of the function app's managed identity, for the deploy step.

scripts/azure/predeploy.sh (the azd `predeploy` hook) runs this as the deploying
principal, the one signed in to the Azure CLI, around `tsched migrate`:

    python scripts/azure/sql_access.py wait --url URL
        until the server admits this machine (a new firewall rule can take minutes)
    python scripts/azure/sql_access.py grant --url URL --identity NAME
        after the migrations: the identity's database user and roles
    python scripts/azure/sql_access.py render --identity NAME
        print the T-SQL, to run it by hand (the portal's query editor, sqlcmd)

The T-SQL (`access_script`) creates the identity's database user once
(`CREATE USER [...] FROM EXTERNAL PROVIDER`), makes it a member of db_datareader and
db_datawriter (the app reads and writes every table) and takes it out of db_ddladmin and
db_owner if someone put it there: the app never changes the schema, the migrations do,
as the deploying principal. Every statement checks first, so the script changes nothing
when the access is already right and a run that stopped halfway is finished by the next.

It runs through pyodbc, which the migrations need anyway, with an Azure CLI token
(`AzureCliCredential`): the deploy machine needs no sqlcmd. docs/deploy.md says why.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from azure.identity import AzureCliCredential

from scheduler.adapters.sql import engine as sql_engine
from scheduler.adapters.sql import transient

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: Fixed database roles the app's identity is a member of: it reads and writes every table.
APP_ROLES = ("db_datareader", "db_datawriter")

#: Fixed database roles that can change the schema; the identity is never a member.
SCHEMA_ROLES = ("db_ddladmin", "db_owner")

#: Longest name of a database principal (`sysname` is nvarchar(128)).
MAX_NAME_LENGTH = 128

#: Azure SQL's "Client with IP address ... is not allowed to access the server": the
#: server-level firewall does not admit this machine (yet: a new rule takes a while).
FIREWALL_REFUSED = 40615

#: Seconds `wait` tries for: Microsoft documents up to five minutes for a server-level
#: firewall rule to take effect.
DEFAULT_WAIT_SECONDS = 300.0

_NATIVE_FIREWALL_REFUSED = re.compile(rf"\({FIREWALL_REFUSED}\)")

ROLES_OF = sa.text(
    "SELECT r.name FROM sys.database_role_members AS m"
    " JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id"
    " JOIN sys.database_principals AS u ON u.principal_id = m.member_principal_id"
    " WHERE u.name = :name ORDER BY r.name"
)
"""The fixed and user roles a database principal is a member of, by the principal's name."""


def quote_name(name: str) -> str:
    """`name` as a T-SQL delimited identifier: in brackets, each `]` doubled (what
    `QUOTENAME` returns), so no name can end the identifier early."""
    _check_name(name)
    return "[" + name.replace("]", "]]") + "]"


def quote_string(text: str) -> str:
    """`text` as a T-SQL Unicode string literal: `N'...'`, each `'` doubled."""
    _check_name(text)
    return "N'" + text.replace("'", "''") + "'"


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a database principal name has 1 to {MAX_NAME_LENGTH} characters")
    if any(ord(character) < 32 for character in name):
        raise ValueError("a database principal name has no control characters")


def access_script(identity: str) -> str:
    """The T-SQL that gives the managed identity named `identity` exactly the access the
    app needs in the current database. Run it as a Microsoft Entra administrator of the
    server (or a member of the administrator group), in the app's database.

    It fails, changing nothing, when a principal of that name exists and is not a
    Microsoft Entra user (type `E`): roles must not go to some other principal."""
    user = quote_name(identity)
    name = quote_string(identity)
    lines = [
        "-- Azure SQL access of the tsched function app's managed identity.",
        "-- Written by scripts/azure/sql_access.py; safe to run again.",
        "SET NOCOUNT ON;",
        "SET XACT_ABORT ON;",
        "",
        # `name` is a quoted literal (quote_string), `user` a quoted name (quote_name).
        f"IF EXISTS (SELECT 1 FROM sys.database_principals WHERE name = {name} AND type <> 'E')",  # noqa: S608
        "BEGIN",
        "    THROW 50000, N'A database principal with the app identity''s name exists and is"
        " not a Microsoft Entra user: drop or rename it, then run this again.', 1;",
        "END;",
        "",
        f"IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = {name})",  # noqa: S608
        "BEGIN",
        f"    CREATE USER {user} FROM EXTERNAL PROVIDER;",
        "END;",
        "",
        "-- The app reads and writes every table.",
    ]
    for role in APP_ROLES:
        lines += [
            "IF NOT EXISTS (",
            *_membership(role, name),
            ")",
            "BEGIN",
            f"    ALTER ROLE {quote_name(role)} ADD MEMBER {user};",
            "END;",
        ]
    lines += ["", "-- The app never changes the schema: migrations do, as the deploying principal."]
    for role in SCHEMA_ROLES:
        lines += [
            "IF EXISTS (",
            *_membership(role, name),
            ")",
            "BEGIN",
            f"    ALTER ROLE {quote_name(role)} DROP MEMBER {user};",
            "END;",
        ]
    return "\n".join(lines) + "\n"


def _membership(role: str, member: str) -> list[str]:
    """The lines of a query with a row when the principal named by the literal `member`
    is a member of `role`."""
    return [
        "    SELECT 1",
        "    FROM sys.database_role_members AS m",
        "    JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id",
        "    JOIN sys.database_principals AS u ON u.principal_id = m.member_principal_id",
        f"    WHERE r.name = {quote_string(role)} AND u.name = {member}",
    ]


def admits_later(error: BaseException) -> bool:
    """Whether a failed connection may succeed if tried again: the firewall refused this
    machine (error 40615, while a new rule takes effect) or the error is transient
    (`transient.is_transient`: a database coming online after provisioning)."""
    if transient.is_transient(error):
        return True
    if not isinstance(error, sa.exc.DBAPIError) or error.orig is None:
        return False
    return any(
        isinstance(arg, str) and _NATIVE_FIREWALL_REFUSED.search(arg) for arg in error.orig.args
    )


def wait_until_admitted(
    connect: Callable[[], None],
    *,
    timeout: float = DEFAULT_WAIT_SECONDS,
    interval: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    say: Callable[[str], None] = lambda _message: None,
) -> int:
    """Call `connect()` until it returns, retrying every `interval` seconds while it fails
    with an error that `admits_later`, for at most `timeout` seconds; returns the number of
    attempts. Any other error, or the last one at the deadline, is raised."""
    deadline = clock() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            connect()
        except Exception as error:
            if not admits_later(error) or clock() + interval > deadline:
                raise
            say(f"the server does not admit us yet ({transient.describe(error)}); retrying")
            sleep(interval)
        else:
            return attempt


def grant(engine: sa.Engine, identity: str) -> list[str]:
    """Run `access_script(identity)` against `engine`'s database and return the roles the
    identity is then a member of. Each statement commits by itself (autocommit), so
    nothing depends on Azure SQL accepting `CREATE USER ... FROM EXTERNAL PROVIDER`
    inside a transaction; the script is idempotent, so a rerun finishes a partial run."""
    script = access_script(identity)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # The DBAPI cursor, drained: pyodbc raises an error of a later statement in a
        # batch only when the results before it have been stepped over.
        cursor = connection.connection.cursor()
        try:
            cursor.execute(script)
            while cursor.nextset():
                pass
        finally:
            cursor.close()
        return list(connection.execute(ROLES_OF, {"name": identity}).scalars())


def azure_sql_engine(url: str) -> sa.Engine:
    """An engine for the `mssql+pyodbc` `url` that signs in with the Azure CLI's login."""
    parsed = sa.make_url(url)
    if parsed.drivername != "mssql+pyodbc":
        raise SystemExit(f"sql_access: --url must be an mssql+pyodbc URL, not {parsed.drivername}")
    return sql_engine.create_engine(url, credential=AzureCliCredential())


def check_driver(url: str) -> None:
    """Exit with a hint when the ODBC driver the URL names is not installed here."""
    driver = sa.make_url(url).query.get("driver")
    try:
        # Imported here, not above: without unixODBC (libodbc.so.2) pyodbc cannot load,
        # and `render` and the tests need neither.
        pyodbc = importlib.import_module("pyodbc")
    except ImportError as error:
        raise SystemExit(f"sql_access: pyodbc cannot load ({error}); {_DRIVER_HINT}") from None
    if isinstance(driver, str) and driver not in pyodbc.drivers():
        raise SystemExit(f"sql_access: ODBC driver {driver!r} is not installed; {_DRIVER_HINT}")


_DRIVER_HINT = (
    "install Microsoft ODBC Driver 18 for SQL Server (on Ubuntu: "
    "scripts/azure/install-odbc-driver.sh; see docs/deploy.md)"
)


_GRANT_HINT = (
    "CREATE USER ... FROM EXTERNAL PROVIDER looks the identity up in Microsoft Entra ID; "
    "a service principal (the deploy workflow's login) can do that only when the server's "
    "identity may read Microsoft Graph. docs/deploy.md, 'The first deployment'."
)


def _say(message: str) -> None:
    sys.stdout.write(f"sql_access: {message}\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="sql_access.py",
        description="Azure SQL access of the function app's managed identity (docs/deploy.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="print the T-SQL for an identity")
    render.add_argument("--identity", required=True, help="managed identity name")
    wait = commands.add_parser("wait", help="wait until the server admits this machine")
    wait.add_argument("--url", required=True, help="the app's mssql+pyodbc DATABASE_URL")
    wait.add_argument("--timeout", type=float, default=DEFAULT_WAIT_SECONDS, help="seconds")
    give = commands.add_parser("grant", help="give the identity its database user and roles")
    give.add_argument("--url", required=True, help="the app's mssql+pyodbc DATABASE_URL")
    give.add_argument("--identity", required=True, help="managed identity name")
    args = parser.parse_args(argv)

    if args.command == "render":
        sys.stdout.write(access_script(args.identity))
        return 0
    check_driver(args.url)
    engine = azure_sql_engine(args.url)
    try:
        if args.command == "wait":

            def connect() -> None:
                with engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))

            attempts = wait_until_admitted(connect, timeout=args.timeout, say=_say)
            _say(f"the server admits us (attempt {attempts})")
        else:
            try:
                roles = grant(engine, args.identity)
            except sa.exc.DBAPIError as error:
                _say(f"granting failed: {error.orig}")
                _say(_GRANT_HINT)
                return 1
            _say(f"{args.identity} is a member of {', '.join(roles) or 'no role'}")
            if sorted(roles) != sorted(APP_ROLES):
                # Some other role (a custom one, granted by hand) the script does not own:
                # fail the deploy so that a person decides, rather than leave it unnoticed.
                _say(f"expected exactly {', '.join(APP_ROLES)}: review the other roles by hand")
                return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
