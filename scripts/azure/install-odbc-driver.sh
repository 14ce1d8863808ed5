#!/usr/bin/env bash
# Installs Microsoft ODBC Driver 18 for SQL Server on Ubuntu, the way Microsoft documents
# it ("Install the Microsoft ODBC driver for SQL Server (Linux)", learn.microsoft.com):
# Microsoft's package repository (packages-microsoft-prod.deb), then msodbcsql18 with
# its licence accepted (ACCEPT_EULA=Y). Does nothing when the driver is installed.
#
# The deploy workflow runs it on its GitHub-hosted runner: ubuntu-latest (24.04) has no
# SQL Server tools (actions/runner-images: Ubuntu2404-Readme.md lists neither the driver
# nor sqlcmd; issue #12671). Those runners usually have Microsoft's repository already
# (images/ubuntu/scripts/build/install-ms-repos.sh), so it is added only when apt cannot
# find msodbcsql18. Needs root or sudo, and the network.
set -euo pipefail

DRIVER="ODBC Driver 18 for SQL Server"

installed() {
    command -v odbcinst >/dev/null && odbcinst -q -d -n "$DRIVER" >/dev/null 2>&1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

if installed; then
    echo "install-odbc-driver: $DRIVER is installed already"
    exit 0
fi

# shellcheck source=/dev/null
. /etc/os-release
if [[ ${ID:-} != ubuntu ]]; then
    echo "install-odbc-driver: this script knows Ubuntu only; for ${PRETTY_NAME:-this system}" \
        "follow Microsoft's instructions (docs/deploy.md)" >&2
    exit 1
fi

as_root apt-get update -q
if ! apt-cache policy msodbcsql18 | grep -q 'Candidate: [0-9]'; then
    package=$(mktemp --suffix=.deb)
    trap 'rm -f "$package"' EXIT
    curl -fsSL -o "$package" \
        "https://packages.microsoft.com/config/ubuntu/${VERSION_ID}/packages-microsoft-prod.deb"
    as_root dpkg -i "$package"
    as_root apt-get update -q
fi
as_root env ACCEPT_EULA=Y apt-get install -y -q msodbcsql18

if ! installed; then
    echo "install-odbc-driver: msodbcsql18 installed, but unixODBC does not list $DRIVER" >&2
    exit 1
fi
echo "install-odbc-driver: $DRIVER installed"
