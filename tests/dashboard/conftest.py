"""The headless browser the dashboard tests drive, and where their screenshots go.

Debian's chromium and chromium-driver are used as installed; no browser is ever
downloaded. Without them a browser test skips, except on CI (CI=true), where it
fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from awu.dashboard import assets
from tests.e2e.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "a long pass phrase"
# Every screenshot the browser tests take, for CI to keep as artifacts.
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def missing_or_skip(problem: str | None) -> None:
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    missing_or_skip(
        f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if missing
        else None
    )
    missing_or_skip(
        None
        if assets.chart_available()
        else "the charting library is not installed (python -m awu.dashboard.assets)"
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(tmp_path / "downloads")}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    """The whole page, in the test's tmp dir, in test-output/ and in SCREENSHOTS."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    # A viewport as tall as the page, so one capture holds all of it.
    metrics = {"width": 1280, "height": min(int(height), 6000), "deviceScaleFactor": 1}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False})
    shot = tmp_path / name
    assert driver.save_screenshot(str(shot))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    for out in (ROOT / "test-output", SCREENSHOTS):
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out / name)
    return shot


def element_shot(driver: Any, element: Any, name: str) -> Path:
    """One element of the page (a card, a chart), whole, in SCREENSHOTS: small
    enough for the docs."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": 1280, "height": min(int(height), 6000), "deviceScaleFactor": 1}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False})
    try:
        assert element.screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path
