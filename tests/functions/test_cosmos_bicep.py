"""The archive's containers in Bicep are the ones the adapter defines and the tests
provision: names, partition keys, composite indexes; and the retention is one value,
passed by main.bicep to the containers' default ttl and to the app setting."""

from __future__ import annotations

import re
from pathlib import Path

from scheduler.adapters.cosmos import containers
from scheduler.domain import audit

ROOT = Path(__file__).resolve().parents[2]
COSMOS_BICEP = (ROOT / "bicep" / "app" / "cosmos.bicep").read_text(encoding="utf-8")
MAIN_BICEP = (ROOT / "bicep" / "main.bicep").read_text(encoding="utf-8")
RBAC_BICEP = (ROOT / "bicep" / "app" / "rbac.bicep").read_text(encoding="utf-8")


def _definitions() -> dict[str, tuple[str, list[list[tuple[str, str]]]]]:
    """Container name to (partition key path, composite indexes), as cosmos.bicep's
    `containerDefinitions` spells them."""
    block = COSMOS_BICEP.split("var containerDefinitions = [", 1)[1].split("\n]\n", 1)[0]
    found = {}
    for entry in re.split(r"\n  \}\n  \{", block):
        name = re.search(r"name: '([^']+)'", entry)
        path = re.search(r"partitionKeyPath: '([^']+)'", entry)
        assert name is not None, entry
        assert path is not None, entry
        indexes = [
            re.findall(r"path: '([^']+)'\s+order: '([^']+)'", index)
            for index in re.findall(r"\[\s*(\{.*?\})\s*\]", entry, re.S)
        ]
        found[name[1]] = (path[1], indexes)
    return found


def test_bicep_creates_the_containers_the_adapter_defines() -> None:
    assert _definitions() == {
        container.name: (
            container.partition_key_path,
            [list(index) for index in container.composite_indexes],
        )
        for container in containers.CONTAINERS
    }


def test_the_retention_is_seven_times_366_days_and_one_value_in_bicep() -> None:
    assert "param retentionDays int = 2562" in COSMOS_BICEP
    assert "defaultTtl: retentionDays * 86400" in COSMOS_BICEP
    assert audit.RETENTION_DAYS == 2562
    assert "param archiveRetentionDays int = 2562" in MAIN_BICEP
    assert MAIN_BICEP.count("archiveRetentionDays: archiveRetentionDays") == 1
    assert "retentionDays: archiveRetentionDays" in MAIN_BICEP


def test_the_app_identity_holds_the_cosmos_data_contributor_role_on_the_database() -> None:
    assert "'00000000-0000-0000-0000-000000000002'" in RBAC_BICEP
    assert "scope: '${cosmosAccount.id}/dbs/${cosmosDatabaseName}'" in RBAC_BICEP
    assert "disableLocalAuth: true" in COSMOS_BICEP
