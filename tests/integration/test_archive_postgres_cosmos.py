"""The archive end to end on real services: PostgreSQL holds the hot window, the Cosmos
DB compatible server the archive. Attempts and sealed audit records reach the archive;
past the window they leave SQL, and the history API and audit verification still see
them, through the archive; an archive out of reach leaves SQL whole."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from azure.cosmos import DatabaseProxy
from fastapi.testclient import TestClient

from scheduler import archiver, bootstrap
from scheduler.adapters.cosmos.archive import CosmosArchive
from scheduler.adapters.sql import migrate, tables
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.config import Settings
from scheduler.domain import audit
from scheduler.ports import HistoryQuery
from scheduler.service.seal_audit import seal_audit
from scheduler.service.verify_audit import verify_audit
from tests.services import cosmos, postgres
from tests.support.clock import SettableClock
from tests.support.history_rows import HistoryRows

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

START = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
RETENTION = timedelta(days=audit.RETENTION_DAYS)
ALICE = HistoryQuery(customer_id="alice")


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    with postgres.scratch_database(postgres_url, "tsched_archive") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def database(cosmos_archive_database: DatabaseProxy) -> DatabaseProxy:
    return cosmos_archive_database


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


def _runtime(database_url: str, clock: SettableClock, archive: CosmosArchive) -> bootstrap.Runtime:
    runtime = bootstrap.build(Settings(database_url=database_url), clock=clock, worker="archive")
    return dataclasses.replace(runtime, archive=archive, closers=(*runtime.closers, archive.close))


@pytest.fixture
def runtime(
    database_url: str, database: DatabaseProxy, clock: SettableClock
) -> Iterator[bootstrap.Runtime]:
    archive = CosmosArchive(lambda: database, clock=clock, retention=RETENTION)
    runtime = _runtime(database_url, clock, archive)
    yield runtime
    runtime.close()


def _fill(runtime: bootstrap.Runtime) -> list[int]:
    """Five attempts of Alice over the last five days, and three sealed audit records,
    one of no customer."""
    rows = HistoryRows(runtime.engine)
    ids = [
        rows.add(START - timedelta(days=days), customer_id="alice", amount=f"{days}0.00")
        for days in range(1, 6)
    ]
    with runtime.unit_of_work() as uow:
        uow.audit.append(
            [
                audit.AuditEntry(
                    occurred_at=START - timedelta(hours=n),
                    actor="user:alice",
                    action="schedule.created",
                    subject_type="schedule",
                    subject_id=f"schedule-{n}",
                    customer_id="alice" if n else None,
                    details={"n": n},
                )
                for n in range(3)
            ]
        )
        uow.commit()
    seal_audit(uow_factory=runtime.unit_of_work, clock=runtime.clock)
    return ids


def _count(runtime: bootstrap.Runtime, table: sa.Table) -> int:
    with runtime.engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def test_past_the_window_rows_leave_sql_and_are_still_read_and_verified_from_the_archive(
    runtime: bootstrap.Runtime, clock: SettableClock, tmp_path: Path
) -> None:
    assert runtime.archive is not None
    ids = _fill(runtime)

    archived = archiver.catch_up(runtime, runtime.archive, seconds=60)
    clock.advance_to(START + timedelta(days=14 * 31))
    purged = archiver.catch_up(runtime, runtime.archive, seconds=60)
    with runtime.unit_of_work() as uow:
        page = uow.history.page_for_customer(ALICE, after=None, limit=10)
        counted = uow.history.count_for_customer(ALICE, at_most=10)
    signer = DevelopmentSigner(tmp_path)
    token = signer.issue("alice", [Role.CUSTOMER], customer_id="alice")
    with TestClient(create_app(runtime, signer.verifier())) as client:
        listed = client.get(
            "/v1/history",
            params={"to": (START - timedelta(days=2)).isoformat(), "limit": 2},
            headers={"Authorization": f"Bearer {token}"},
        )
    report = verify_audit(uow=runtime.unit_of_work(), archive=runtime.archive)

    assert (archived.archived, archived.purged_attempts) == (5 + 1 + 3, 0)
    assert (purged.purged_attempts, purged.purged_blocks) == (5, 1)
    assert _count(runtime, tables.execution_attempt) == 0
    assert _count(runtime, tables.audit_block) == 1
    assert [entry.id for entry in page] == ids
    assert counted == 5
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == ids[2:4]
    assert listed.json()["next_cursor"] is not None
    assert report.ok
    assert (report.blocks_checked, report.records_checked, report.blocks_from_archive) == (1, 3, 1)


def test_an_archive_out_of_reach_archives_nothing_and_sql_keeps_every_row(
    database_url: str, clock: SettableClock
) -> None:
    (port,) = cosmos.process.free_ports(1)
    unreachable = CosmosArchive.connect(
        f"https://127.0.0.1:{port}/",
        cosmos.MASTER_KEY,
        database="tsched",
        clock=clock,
        retention=RETENTION,
        connection_verify=False,
    )
    runtime = _runtime(database_url, clock, unreachable)
    try:
        _fill(runtime)
        clock.advance_to(START + timedelta(days=14 * 31))

        run = archiver.catch_up(runtime, unreachable, seconds=60)

        assert (run.archived, run.purged_attempts, run.purged_blocks) == (0, 0, 0)
        assert run.not_confirmed > 0
        assert _count(runtime, tables.execution_attempt) == 5
        assert _count(runtime, tables.audit_record) == 3
    finally:
        runtime.close()
