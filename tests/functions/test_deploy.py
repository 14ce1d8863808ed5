"""The deploy step that migrates Azure SQL, checked at the boundary this repository owns:
azure.yaml, the workflow and Bicep read as files, the hook scripts run against stand-ins
for `az`, `azd`, `curl` and Python (Azure cannot be reached here), and the Functions
entry script proven free of migrations. docs/deploy.md describes the step."""

from __future__ import annotations

import ast
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AZURE_YAML = ROOT / "azure.yaml"
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
MAIN_BICEP = ROOT / "bicep" / "main.bicep"
SQL_BICEP = ROOT / "bicep" / "app" / "sql.bicep"
FUNCTIONS_BICEP = ROOT / "bicep" / "app" / "functions.bicep"
SCRIPTS = ROOT / "scripts" / "azure"
PREDEPLOY = SCRIPTS / "predeploy.sh"
REMOVE_RULES = SCRIPTS / "remove-firewall-rules.sh"
SHELL_SCRIPTS = sorted(SCRIPTS.glob("*.sh"))

URL = (
    "mssql+pyodbc://@sql-tsched-x.database.windows.net:1433/tsched"
    "?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes&TrustServerCertificate=no"
)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _bicep_outputs(path: Path) -> set[str]:
    return set(re.findall(r"^output (\w+) ", path.read_text(encoding="utf-8"), re.M))


# azure.yaml: one hook, before every deploy.


def test_azure_yaml_runs_the_predeploy_script_before_every_deploy_and_stops_on_failure() -> None:
    posix = _yaml(AZURE_YAML)["hooks"]["predeploy"]["posix"]

    assert posix["run"] == "./scripts/azure/predeploy.sh"
    assert (ROOT / posix["run"]).resolve() == PREDEPLOY
    assert posix["continueOnError"] is False
    assert posix["interactive"] is True


def test_azure_yaml_fails_a_windows_deploy_rather_than_skip_the_migrations() -> None:
    windows = _yaml(AZURE_YAML)["hooks"]["predeploy"]["windows"]

    assert windows["shell"] == "pwsh"
    assert windows["run"].rstrip().endswith("exit 1")
    assert windows["continueOnError"] is False


def test_no_other_azd_hook_touches_the_database() -> None:
    hooks = _yaml(AZURE_YAML)["hooks"]
    services = _yaml(AZURE_YAML)["services"]

    assert set(hooks) == {"predeploy"}
    assert all("hooks" not in service for service in services.values())


# The workflow: prerequisites before the hook runs, the firewall cleaned up after.


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _yaml(WORKFLOW)["jobs"]["deploy"]["steps"]
    return steps


def _index(predicate: Any) -> int:
    (index,) = [i for i, step in enumerate(_steps()) if predicate(step)]
    return index


def _runs(command: str) -> Any:
    return lambda step: command in step.get("run", "")


def _uses(action: str) -> Any:
    return lambda step: step.get("uses", "").lower().startswith(action.lower())


def test_workflow_installs_tsched_and_the_odbc_driver_before_azd_deploys() -> None:
    install = _index(_runs("pip install -r requirements.txt -e ."))
    driver = _index(_runs("scripts/azure/install-odbc-driver.sh"))
    deploy = _index(_runs("azd deploy"))

    assert _index(_uses("actions/setup-python@")) < install < deploy
    assert driver < deploy
    assert _steps()[deploy]["env"]["TSCHED_PYTHON"] == "python"


def test_workflow_takes_the_azure_sql_token_right_after_the_oidc_login() -> None:
    login = _index(_uses("azure/login@"))
    token = _index(_runs("az account get-access-token"))

    assert token == login + 1
    # The resource AzureCliCredential asks the CLI for: the scope less "/.default".
    assert "--resource https://database.windows.net " in _steps()[token]["run"] + " "


def test_workflow_provisions_before_it_deploys() -> None:
    assert _index(_runs("azd provision")) < _index(_runs("azd deploy"))


def test_workflow_removes_its_runs_firewall_rules_after_deploying_whatever_happened() -> None:
    cleanup = _index(_runs("scripts/azure/remove-firewall-rules.sh"))
    step = _steps()[cleanup]

    assert cleanup > _index(_runs("azd deploy"))
    assert step["if"] == "always()"
    assert '"tsched-deploy-${{ github.run_id }}-"' in step["run"]


def test_workflow_runs_no_migration_of_its_own_the_hook_is_the_one_place() -> None:
    assert not [step for step in _steps() if "migrate" in step.get("run", "")]


# Bicep: the hook's inputs are outputs, and the URL is the app's.


def test_the_hook_reads_only_bicep_outputs() -> None:
    loop = re.search(r"^for name in (.*?); do", PREDEPLOY.read_text(encoding="utf-8"), re.M | re.S)
    assert loop is not None
    required = set(loop[1].replace("\\", " ").split())
    used_by_cleanup = set(re.findall(r"azd env get-value (\w+)", REMOVE_RULES.read_text()))

    assert required == {
        "AZURE_RESOURCE_GROUP",
        "AZURE_SQL_SERVER_NAME",
        "AZURE_SQL_DATABASE_URL",
        "AZURE_MANAGED_IDENTITY_NAME",
    }
    assert required | used_by_cleanup <= _bicep_outputs(MAIN_BICEP)


def test_the_database_url_output_is_the_one_the_app_is_given() -> None:
    def shape(pattern: str, path: Path) -> str:
        found = re.search(pattern, path.read_text(encoding="utf-8"), re.M)
        assert found is not None, f"{path.name} has no {pattern!r}"
        return re.sub(r"\$\{[^}]*\}", "{}", found[1])

    for_app = shape(r"^var databaseUrl = '(.*)'$", FUNCTIONS_BICEP)
    for_deploy = shape(r"^output databaseUrl string = '(.*)'$", SQL_BICEP)

    assert for_deploy == for_app
    assert for_deploy.startswith("mssql+pyodbc://@{}:1433/{}?driver=ODBC+Driver+18+for+SQL+Server")


def test_main_bicep_passes_the_sql_module_outputs_on() -> None:
    text = MAIN_BICEP.read_text(encoding="utf-8")

    assert "output AZURE_SQL_SERVER_NAME string = sql.outputs.name" in text
    assert "output AZURE_SQL_DATABASE_URL string = sql.outputs.databaseUrl" in text
    assert {"name", "databaseUrl", "databaseName"} <= _bicep_outputs(SQL_BICEP)


# The shell scripts.


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: path.name)
def test_shell_script_is_executable_strict_and_parses(script: Path) -> None:
    text = script.read_text(encoding="utf-8")

    assert script.stat().st_mode & stat.S_IXUSR
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_every_script_azure_yaml_and_the_workflow_name_exists() -> None:
    named = {"scripts/azure/predeploy.sh"} | {
        match
        for step in _steps()
        for match in re.findall(r"scripts/azure/[\w.-]+", step.get("run", ""))
    }

    assert named == {
        "scripts/azure/predeploy.sh",
        "scripts/azure/install-odbc-driver.sh",
        "scripts/azure/remove-firewall-rules.sh",
    }
    assert all((ROOT / path).is_file() for path in named)


# The hook itself, against stand-ins that record what they are asked.

_STAND_IN = """#!/usr/bin/env bash
database="DATABASE_URL=${{DATABASE_URL:-}} DATABASE_CREDENTIAL=${{DATABASE_CREDENTIAL:-}}"
echo "{name} $* | $database" >>"$CALLS"
if [[ -n ${{FAIL_ON:-}} && " $* " == *" $FAIL_ON "* ]]; then exit 3; fi
{body}
"""


def _stand_in(folder: Path, name: str, body: str = "") -> Path:
    path = folder / name
    path.write_text(_STAND_IN.format(name=name, body=body), encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    """An environment whose `az`, `azd`, `curl` and Python are stand-ins logging to CALLS."""
    folder = tmp_path / "bin"
    folder.mkdir()
    _stand_in(folder, "az", 'if [[ $1 == account ]]; then echo "$FAKE_TENANT"; fi')
    _stand_in(folder, "curl", "echo 203.0.113.7")
    _stand_in(folder, "azd", 'if [[ $2 == get-value ]]; then eval "echo \\${FAKE_$3:-}"; fi')
    python = _stand_in(folder, "python")
    return {
        "PATH": f"{folder}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CALLS": str(tmp_path / "calls.log"),
        "FAKE_TENANT": "tenant-1",
        "TSCHED_PYTHON": str(python),
        "GITHUB_RUN_ID": "4242",
        "AZURE_TENANT_ID": "tenant-1",
        "AZURE_SUBSCRIPTION_ID": "sub-1",
        "AZURE_RESOURCE_GROUP": "rg-prod",
        "AZURE_SQL_SERVER_NAME": "sql-tsched-x",
        "AZURE_SQL_DATABASE_URL": URL,
        "AZURE_MANAGED_IDENTITY_NAME": "id-tsched-x",
    }


def _run(
    script: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    ran = subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    calls_file = Path(env["CALLS"])
    calls = calls_file.read_text(encoding="utf-8").splitlines() if calls_file.exists() else []
    return ran, calls


def _firewall(calls: list[str], verb: str) -> list[str]:
    return [call for call in calls if call.startswith(f"az sql server firewall-rule {verb}")]


def _rule(call: str) -> str:
    name = re.search(r"--name (\S+)", call)
    assert name is not None, call
    return name[1]


def test_hook_opens_the_firewall_migrates_grants_then_closes_the_firewall(
    stand_ins: dict[str, str],
) -> None:
    ran, calls = _run(PREDEPLOY, stand_ins)

    assert ran.returncode == 0, ran.stderr
    steps = [call.split(" | ")[0] for call in calls if not call.startswith("az account")]
    (create,) = _firewall(calls, "create")
    rule = re.search(r"--name (tsched-deploy-4242-\d{14}) ", create)
    assert rule is not None
    target = "--subscription sub-1 --resource-group rg-prod --server sql-tsched-x"
    python = "python"  # TSCHED_PYTHON, a stand-in that logs its own name
    assert steps == [
        "curl -fsS --max-time 10 https://api.ipify.org",
        f"az sql server firewall-rule create {target} --name {rule[1]}"
        " --start-ip-address 203.0.113.7 --end-ip-address 203.0.113.7 --output none",
        f"{python} scripts/azure/sql_access.py wait --url {URL}",
        f"{python} -m scheduler.cli migrate",
        f"{python} scripts/azure/sql_access.py grant --url {URL} --identity id-tsched-x",
        f"az sql server firewall-rule delete {target} --name {rule[1]} --output none",
    ]
    (migrate,) = [call for call in calls if "scheduler.cli migrate" in call]
    assert f"DATABASE_URL={URL} DATABASE_CREDENTIAL=azurecli" in migrate


def test_hook_closes_the_firewall_and_fails_when_the_migration_fails(
    stand_ins: dict[str, str],
) -> None:
    ran, calls = _run(PREDEPLOY, {**stand_ins, "FAIL_ON": "migrate"})

    assert ran.returncode != 0
    assert not [call for call in calls if " grant " in call]
    (create,) = _firewall(calls, "create")
    (delete,) = _firewall(calls, "delete")
    assert _rule(create) == _rule(delete)


def test_hook_uses_the_given_address_and_can_leave_the_firewall_alone(
    stand_ins: dict[str, str],
) -> None:
    given, given_calls = _run(PREDEPLOY, {**stand_ins, "TSCHED_DEPLOY_CLIENT_IP": "198.51.100.9"})
    Path(stand_ins["CALLS"]).unlink()
    skipped, skipped_calls = _run(PREDEPLOY, {**stand_ins, "TSCHED_SQL_FIREWALL": "skip"})

    assert given.returncode == 0
    assert "--start-ip-address 198.51.100.9" in _firewall(given_calls, "create")[0]
    assert not [call for call in given_calls if call.startswith("curl")]
    assert skipped.returncode == 0
    assert not _firewall(skipped_calls, "create")
    assert not _firewall(skipped_calls, "delete")
    assert any(" grant " in call for call in skipped_calls)


def test_hook_stops_before_touching_azure_when_signed_in_to_another_tenant(
    stand_ins: dict[str, str],
) -> None:
    ran, calls = _run(PREDEPLOY, {**stand_ins, "FAKE_TENANT": "tenant-2"})

    assert ran.returncode != 0
    assert "az login --tenant tenant-1" in ran.stderr
    assert calls == [
        "az account show --query tenantId --output tsv | DATABASE_URL= DATABASE_CREDENTIAL="
    ]


def test_hook_names_the_missing_bicep_output(stand_ins: dict[str, str]) -> None:
    env = {name: value for name, value in stand_ins.items() if name != "AZURE_SQL_DATABASE_URL"}

    ran, calls = _run(PREDEPLOY, env)

    assert ran.returncode != 0
    assert "AZURE_SQL_DATABASE_URL is not set: run azd provision first" in ran.stderr
    assert calls == []


def test_hook_refuses_an_address_a_firewall_rule_cannot_hold(stand_ins: dict[str, str]) -> None:
    ran, calls = _run(PREDEPLOY, {**stand_ins, "TSCHED_DEPLOY_CLIENT_IP": "2001:db8::1"})

    assert ran.returncode != 0
    assert "IPv4" in ran.stderr
    assert not _firewall(calls, "create")


def test_cleanup_removes_the_rules_its_prefix_names(stand_ins: dict[str, str]) -> None:
    env = {
        **stand_ins,
        "FAKE_AZURE_RESOURCE_GROUP": "rg-prod",
        "FAKE_AZURE_SQL_SERVER_NAME": "sql-tsched-x",
    }
    az = Path(env["PATH"].split(":")[0]) / "az"
    az.write_text(
        az.read_text(encoding="utf-8")
        + 'if [[ $4 == list ]]; then printf "%s\\n" tsched-deploy-7-a tsched-deploy-7-b; fi\n',
        encoding="utf-8",
    )

    ran, calls = _run(REMOVE_RULES, env, "tsched-deploy-7-")

    assert ran.returncode == 0, ran.stderr
    (listed,) = [call for call in calls if "firewall-rule list" in call]
    assert "[?starts_with(name, 'tsched-deploy-7-')].name" in listed
    assert [_rule(call) for call in _firewall(calls, "delete")] == [
        "tsched-deploy-7-a",
        "tsched-deploy-7-b",
    ]


def test_cleanup_does_nothing_before_anything_was_provisioned(stand_ins: dict[str, str]) -> None:
    ran, calls = _run(REMOVE_RULES, stand_ins, "tsched-deploy-7-")

    assert ran.returncode == 0
    assert not [call for call in calls if call.startswith("az ")]


@pytest.mark.parametrize("prefix", ["", "allow-all", "tsched-deploy-'; rm -rf /; '"])
def test_cleanup_refuses_a_prefix_that_is_not_a_deploy_rule(
    stand_ins: dict[str, str], prefix: str
) -> None:
    ran, calls = _run(REMOVE_RULES, stand_ins, prefix)

    assert ran.returncode == 2
    assert calls == []


# Migrations run in the deploy step, never when the function app starts.

ENTRY_POINTS = [
    ROOT / "main.py",
    *sorted((ROOT / "function_app").rglob("*.py")),
    *sorted((ROOT / "durable").rglob("*.py")),
]


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


@pytest.mark.parametrize("path", ENTRY_POINTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_function_app_code_imports_no_migration(path: Path) -> None:
    modules = _imported_modules(path)

    assert "scheduler.adapters.sql.migrate" not in modules
    assert not {module for module in modules if module.split(".")[0] == "alembic"}


def test_starting_the_function_app_loads_neither_alembic_nor_the_migrations() -> None:
    probe = (
        "import sys, main\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] == 'alembic'"
        " or m == 'scheduler.adapters.sql.migrate']\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    ran = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
