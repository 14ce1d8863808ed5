#!/usr/bin/env bash
# Removes the firewall rules whose names start with PREFIX from the Azure SQL server of
# the current azd environment.
#
#   scripts/azure/remove-firewall-rules.sh PREFIX
#
# The deploy workflow runs it last, whatever happened before, with its run's prefix
# (tsched-deploy-<run id>-): the predeploy hook removes its own rule on exit, and this
# removes one that a run cancelled or killed first left behind. By hand, PREFIX
# tsched-deploy- removes every rule any deploy left.
set -euo pipefail

prefix=${1:-}
if [[ ! $prefix =~ ^tsched-deploy-[A-Za-z0-9-]*$ ]]; then
    echo "usage: remove-firewall-rules.sh tsched-deploy-[RUN-ID-]" >&2
    exit 2
fi

group=$(azd env get-value AZURE_RESOURCE_GROUP 2>/dev/null) || group=""
server=$(azd env get-value AZURE_SQL_SERVER_NAME 2>/dev/null) || server=""
if [[ -z $group || -z $server ]]; then
    echo "remove-firewall-rules: the azd environment names no SQL server: nothing to remove"
    exit 0
fi
subscription=()
if [[ -n ${AZURE_SUBSCRIPTION_ID:-} ]]; then
    subscription=(--subscription "$AZURE_SUBSCRIPTION_ID")
fi
target=(${subscription[@]+"${subscription[@]}"} --resource-group "$group" --server "$server")

rules=$(az sql server firewall-rule list "${target[@]}" \
    --query "[?starts_with(name, '$prefix')].name" --output tsv)
if [[ -z $rules ]]; then
    echo "remove-firewall-rules: no rule of $server starts with $prefix"
    exit 0
fi
while read -r rule; do
    echo "remove-firewall-rules: removing $rule from $server"
    az sql server firewall-rule delete "${target[@]}" --name "$rule" --output none
done <<<"$rules"
