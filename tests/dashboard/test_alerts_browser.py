"""The alerts page in headless Chromium: a viewer acknowledges an alert.

gunicorn serves the test database with the clock pinned to the alert scenario's
day; the rules ran in the test process. The screenshot lands in
artifacts/screenshots/alerts-acknowledged.png (``tests.dashboard.conftest.SCREENSHOTS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from awu.alerts import services
from awu.alerts.models import Alert, AlertTransition
from awu.dashboard import assets
from ledger import access
from tests.awu.alerts.scenario import NOW, trip_every_rule
from tests.dashboard.conftest import PASSWORD, missing_or_skip, screenshot
from tests.e2e.conftest import Stack, stack_environment

pytestmark = pytest.mark.e2e


@pytest.fixture
def web(transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    env = {**stack_environment(tmp_path, queue="unused", broker=None), "AWU_NOW": NOW}
    (tmp_path / "logs").mkdir()
    running = Stack(env=env, logs=tmp_path / "logs", queue="unused", broker_url=None)
    try:
        running.start_web()
        running.wait_ready()
        yield running
    finally:
        running.stop()


def _axe(browser: Any) -> list[Any]:
    axe_js = assets.DEV_VENDOR_DIR / assets.AXE_JS
    missing_or_skip(
        None
        if axe_js.is_file()
        else "axe-core is not installed (python -m awu.dashboard.assets --dev)"
    )
    browser.execute_script(axe_js.read_text())
    violations: list[Any] = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}})
          .then(r => done(r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(" "))}))));
        """
    )
    return violations


def test_a_viewer_acknowledges_an_alert_on_the_alerts_page(
    web: Stack, browser: Any, tmp_path: Path, settings: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    settings.AWU_NOW = NOW
    trip_every_rule()
    services.alerts_evaluate()
    access.grant(user=User.objects.create_user("viewer", password=PASSWORD), role=access.VIEWER)
    pace = Alert.objects.get(rule="spend_pace")

    browser.get(f"{web.base_url}/alerts/")
    browser.find_element(By.ID, "id_username").send_keys("viewer")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, f"alert-{pace.pk}"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#alerts tr[data-alert]")
    assert len(rows) == Alert.objects.count()
    assert _axe(browser) == []

    # By keyboard: focus the button and press Enter.
    button = browser.find_element(By.CSS_SELECTOR, f"#alert-{pace.pk} button")
    assert button.text == "Acknowledge"
    browser.execute_script("arguments[0].focus()", button)
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "alerts-message"))
    row = browser.find_element(By.ID, f"alert-{pace.pk}")
    assert row.get_attribute("data-state") == "acknowledged"
    assert "acknowledged by viewer" in row.find_element(By.CSS_SELECTOR, ".alert-state").text
    assert not row.find_elements(By.TAG_NAME, "button")
    assert _axe(browser) == []
    screenshot(browser, tmp_path, "alerts-acknowledged.png")

    pace.refresh_from_db()
    assert pace.state == "acknowledged"
    assert pace.acknowledged_by == "viewer"
    assert AlertTransition.objects.filter(alert=pace, state="acknowledged").count() == 1
