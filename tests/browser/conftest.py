"""Headless Chromium from Debian's packages (chromium, chromium-driver, installed by
scripts/test), driven by Selenium through that chromedriver: nothing is downloaded.
`TSCHED_CHROMIUM` and `TSCHED_CHROMEDRIVER` name another browser and driver (CI's
runner has Chrome). Screenshots go to `.artifacts/browser/` (`TSCHED_ARTIFACTS`
overrides the folder)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("TSCHED_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TSCHED_CHROMEDRIVER", "/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
#: Flags that keep Chromium off the network (this machine's is closed, and a browser
#: that keeps trying slows every start) and out of any profile but the test's own.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1100",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where this test's screenshots go, a folder per test."""
    base = Path(os.environ.get("TSCHED_ARTIFACTS", ROOT / ".artifacts")) / "browser"
    folder = base / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
