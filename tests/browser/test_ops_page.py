"""The operations page in a real browser, over a real uvicorn: it asks for a token,
shows the figures of a store the test prepared, refreshes by itself when an operation
fails, and re-drives one with the reason the operator types, which the audit trail
keeps. A token without the operations role gets the sign-in form back, with why."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from scheduler import bootstrap, runner
from scheduler.adapters.sql import tables
from scheduler.api.app import create_app
from scheduler.api.auth import DevelopmentSigner, Role
from tests.support import api
from tests.support.clock import SettableClock
from tests.support.schedules import create, one_time_transfer
from tests.support.uvicorn_server import serving

pytestmark = pytest.mark.integration

#: Seconds to wait for the page to show something: the deadline, not a pause.
DEADLINE = 15.0
FIRST_FAILURE = datetime(2027, 1, 4, 10, 0, 5, tzinfo=UTC)
C_PAID = datetime(2027, 1, 4, 10, 30, 5, tzinfo=UTC)
SECOND_FAILURE = datetime(2027, 1, 5, 10, 0, 5, tzinfo=UTC)


def _failing(day: str, amount: str) -> dict[str, object]:
    return one_time_transfer(day, amount) | {"credit_account": "GB-NOWHERE"}


def _run_due(runtime: bootstrap.Runtime, at: datetime) -> None:
    clock = runtime.clock
    assert isinstance(clock, SettableClock)
    clock.advance_to(at)
    while runner.run_cycle(runtime, runner.LoopSettings()).claimed:
        pass


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    """Transfer A fails at FIRST_FAILURE; at that time transfer C is due within the
    hour (paid at C_PAID); B fails a day later."""
    runtime = api.migrated_runtime(tmp_path)
    for document in (
        _failing("2027-01-04", "17.17"),
        _failing("2027-01-05", "23.00"),
        one_time_transfer("2027-01-04", "5.00") | {"time_of_day": "10:30"},
    ):
        create(runtime.engine, runtime.clock, document, accounts=runtime.accounts)
    _run_due(runtime, FIRST_FAILURE)
    yield runtime
    runtime.close()


@pytest.fixture
def signer(tmp_path: Path) -> DevelopmentSigner:
    return DevelopmentSigner(tmp_path / "keys")


@pytest.fixture
def base_url(runtime: bootstrap.Runtime, signer: DevelopmentSigner) -> Iterator[str]:
    with serving(create_app(runtime, signer.verifier())) as (host, port):
        yield f"http://{host}:{port}"


def _sign_in(browser: webdriver.Chrome, base_url: str, token: str) -> None:
    browser.get(f"{base_url}/ops?refresh=1")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def _figure(browser: webdriver.Chrome, name: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'[data-figure="{name}"]').text)


def _until(browser: webdriver.Chrome, condition: Callable[[webdriver.Chrome], bool]) -> None:
    WebDriverWait(browser, DEADLINE, poll_frequency=0.1).until(condition)


def _stopped_rows(browser: webdriver.Chrome) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "#stopped tbody tr")
    return [str(row.get_attribute("data-operation")) for row in rows]


def test_the_page_shows_the_figures_refreshes_on_a_failure_and_re_drives_one(
    browser: webdriver.Chrome,
    base_url: str,
    runtime: bootstrap.Runtime,
    signer: DevelopmentSigner,
    artifacts: Path,
) -> None:
    _sign_in(browser, base_url, signer.issue("ops-1", [Role.OPERATIONS]))

    _until(browser, lambda b: _figure(b, "failed") == "1")
    assert _figure(browser, "due_next_hour.executions") == "1"
    assert _figure(browser, "due_next_day.executions") == "2"
    assert _figure(browser, "dead") == "0"
    assert "GB-NOWHERE" not in browser.page_source  # accounts are masked
    (first_failed,) = _stopped_rows(browser)
    browser.save_screenshot(str(artifacts / "1-one-failed.png"))

    _run_due(runtime, C_PAID)
    _run_due(runtime, SECOND_FAILURE)  # B fails while the page is open
    _until(browser, lambda b: _figure(b, "failed") == "2")
    assert len(_stopped_rows(browser)) == 2
    browser.save_screenshot(str(artifacts / "2-second-failure-shown.png"))

    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-operation="{first_failed}"]')
    row.find_element(By.TAG_NAME, "button").click()
    browser.find_element(By.ID, "redrive-reason").send_keys("credit account corrected")
    browser.save_screenshot(str(artifacts / "3-redrive-asks-why.png"))
    browser.find_element(By.ID, "redrive-confirm").click()

    _until(browser, lambda b: _figure(b, "failed") == "1")
    assert first_failed not in _stopped_rows(browser)
    browser.save_screenshot(str(artifacts / "4-redriven.png"))
    with runtime.engine.connect() as connection:
        redriven = connection.execute(
            sa.select(tables.audit_record.c.actor, tables.audit_record.c.details).where(
                tables.audit_record.c.action == "operation.redriven"
            )
        ).one()
    assert redriven.actor == "staff:ops-1"
    assert "credit account corrected" in str(redriven.details)


def test_a_token_without_the_operations_role_is_sent_back_to_sign_in(
    browser: webdriver.Chrome, base_url: str, signer: DevelopmentSigner, artifacts: Path
) -> None:
    _sign_in(browser, base_url, signer.issue("alice", [Role.CUSTOMER], "alice"))

    _until(browser, lambda b: b.find_element(By.ID, "login-error").text != "")
    assert browser.find_element(By.ID, "login").is_displayed()
    assert not browser.find_element(By.ID, "dashboard").is_displayed()
    browser.save_screenshot(str(artifacts / "refused.png"))
