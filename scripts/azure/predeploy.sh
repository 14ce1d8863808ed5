#!/usr/bin/env bash
# The azd `predeploy` hook (azure.yaml): before azd ships new code, bring the Azure SQL
# schema to the latest version and give the app's managed identity its access, both as
# the deploying principal (the Azure CLI's login). It runs for `azd deploy` and for the
# deploy step of `azd up`, on a developer's machine and in .github/workflows/deploy.yml.
#
#   1. open the server's firewall to this machine's public IPv4 address, with a rule
#      named tsched-deploy-<run id or "local">-<UTC time>, removed on exit come what may;
#   2. wait until the server admits this machine (a new rule can take minutes);
#   3. tsched migrate, as DATABASE_CREDENTIAL=azurecli (Alembic's upgrade head);
#   4. scripts/azure/sql_access.py grant (CREATE USER ... FROM EXTERNAL PROVIDER, roles).
#
# azd passes the values of its environment as variables, among them these Bicep outputs:
# AZURE_RESOURCE_GROUP, AZURE_SQL_SERVER_NAME, AZURE_SQL_DATABASE_URL (the app's
# DATABASE_URL) and AZURE_MANAGED_IDENTITY_NAME; AZURE_SUBSCRIPTION_ID and AZURE_TENANT_ID
# when set. Optional:
#   TSCHED_PYTHON            an interpreter with tsched installed (pip install -r
#                            requirements.txt -e .); default: .venv, created or updated
#   TSCHED_DEPLOY_CLIENT_IP  the public IPv4 address the server sees from here; default:
#                            asked of https://api.ipify.org
#   TSCHED_SQL_FIREWALL=skip add no rule: this machine reaches the server another way
#                            (a private endpoint, a rule of its own)
# docs/deploy.md describes the sequence and what the deploying principal needs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

say() { echo "predeploy: $*"; }
fail() {
    echo "predeploy: $*" >&2
    exit 1
}

for name in AZURE_RESOURCE_GROUP AZURE_SQL_SERVER_NAME AZURE_SQL_DATABASE_URL \
    AZURE_MANAGED_IDENTITY_NAME; do
    [[ -n ${!name:-} ]] || fail "$name is not set: run azd provision first (a Bicep output)"
done

command -v az >/dev/null || fail "needs the Azure CLI (az): the deploy step signs in with it"
tenant=$(az account show --query tenantId --output tsv 2>/dev/null) \
    || fail "the Azure CLI is not signed in: az login, as the principal that deploys"
if [[ -n ${AZURE_TENANT_ID:-} && $tenant != "$AZURE_TENANT_ID" ]]; then
    fail "the Azure CLI is signed in to tenant $tenant, the server is in $AZURE_TENANT_ID:" \
        "az login --tenant $AZURE_TENANT_ID"
fi
# Bash 3.2 (macOS) counts an empty array as unset under `set -u`: expand with ${a[@]+...}.
subscription=()
if [[ -n ${AZURE_SUBSCRIPTION_ID:-} ]]; then
    subscription=(--subscription "$AZURE_SUBSCRIPTION_ID")
fi
server=(${subscription[@]+"${subscription[@]}"}
    --resource-group "$AZURE_RESOURCE_GROUP" --server "$AZURE_SQL_SERVER_NAME")

python=${TSCHED_PYTHON:-}
if [[ -z $python ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
    python=.venv/bin/python
fi

rule=""
close_firewall() {
    if [[ -n $rule ]]; then
        say "removing firewall rule $rule"
        az sql server firewall-rule delete "${server[@]}" --name "$rule" --output none \
            || echo "predeploy: could not remove firewall rule $rule of" \
                "$AZURE_SQL_SERVER_NAME: remove it by hand" >&2
    fi
}
trap close_firewall EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${TSCHED_SQL_FIREWALL:-} == skip ]]; then
    say "TSCHED_SQL_FIREWALL=skip: adding no firewall rule"
else
    ip=${TSCHED_DEPLOY_CLIENT_IP:-}
    if [[ -z $ip ]]; then
        ip=$(curl -fsS --max-time 10 https://api.ipify.org) \
            || fail "cannot learn this machine's public IP: set TSCHED_DEPLOY_CLIENT_IP"
    fi
    [[ $ip =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] \
        || fail "server firewall rules take an IPv4 address, not '$ip'"
    # Set before the rule exists, so that an interrupted create is cleaned up too.
    rule="tsched-deploy-${GITHUB_RUN_ID:-local}-$(date -u +%Y%m%d%H%M%S)"
    say "opening the firewall of $AZURE_SQL_SERVER_NAME to $ip (rule $rule)"
    az sql server firewall-rule create "${server[@]}" --name "$rule" \
        --start-ip-address "$ip" --end-ip-address "$ip" --output none
fi

"$python" scripts/azure/sql_access.py wait --url "$AZURE_SQL_DATABASE_URL"

say "migrating the schema (tsched migrate)"
DATABASE_URL=$AZURE_SQL_DATABASE_URL DATABASE_CREDENTIAL=azurecli \
    "$python" -m scheduler.cli migrate

say "granting $AZURE_MANAGED_IDENTITY_NAME its database access"
"$python" scripts/azure/sql_access.py grant --url "$AZURE_SQL_DATABASE_URL" \
    --identity "$AZURE_MANAGED_IDENTITY_NAME"
