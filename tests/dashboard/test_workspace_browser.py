"""The leadership workspace in headless Chromium, on the demo company.

The demo company (a smaller one from the same generator) is seeded, scored and
committed once for the module; one gunicorn serves it with the clock pinned to
the demo's. Each test logs in through the form in a fresh browser. Screenshots
land in artifacts/screenshots/ (``tests.dashboard.conftest.SCREENSHOTS``).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from awu.dashboard import assets
from ledger import access
from tests.conftest import forget_process_caches
from tests.dashboard.conftest import PASSWORD, element_shot, missing_or_skip, screenshot
from tests.e2e.conftest import Stack, stack_environment
from tests.ledger.factories import NOW

# django_db: pytest-django sets up the test database only for a session with a
# test that asks for it; the tests read what the module fixture committed.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

DEMO = ("--people", "100", "--days", "45", "--seed", "7", "--workers", "2", "--no-progress")
ENGINEERING = ("platform", "payments", "mobile")


@pytest.fixture(scope="module")
def web(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    forget_process_caches()
    tmp = tmp_path_factory.mktemp("workspace")
    with django_db_blocker.unblock(), override_settings(AWU_NOW=NOW):
        # Never seed (and flush) anything but the test database.
        assert connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]
        running: Stack | None = None
        try:
            call_command("seed_demo", *DEMO, "--score", stdout=StringIO(), stderr=StringIO())
            access.grant(
                user=User.objects.create_user("lead", password=PASSWORD), role=access.VIEWER
            )
            env = {**stack_environment(tmp, queue="unused", broker=None), "AWU_NOW": NOW}
            (tmp / "logs").mkdir()
            running = Stack(env=env, logs=tmp / "logs", queue="unused", broker_url=None)
            running.start_web()
            running.wait_ready()
            yield running
        finally:
            if running is not None:
                running.stop()
            call_command("flush", interactive=False, verbosity=0)
            forget_process_caches()


def _login(browser: Any, web: Stack, path: str = "/") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{web.base_url}{path}")
    browser.find_element(By.ID, "id_username").send_keys("lead")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    submit = browser.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    submit.click()
    # The log-in page itself is "complete" and has no charts: wait until it is gone.
    WebDriverWait(browser, 30).until(staleness_of(submit))
    _charts_drawn(browser)


def _charts_drawn(browser: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && (!document.getElementById"
            "('dashboard-data') || document.documentElement.dataset.charts)"
        )
    )


def _fetch_json(browser: Any, url: str) -> Any:
    """GET ``url`` from the page, with the page's session (no key)."""
    return browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"})
          .then(r => r.json().then(body => done({status: r.status, body: body})));
        """,
        url,
    )


def _cells(browser: Any, report: str, key: str) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = browser.execute_script(
        """
        const out = {};
        for (const tr of document.querySelectorAll(`[data-report="${arguments[0]}"] tr[${arguments[1]}]`)) {
          const cells = {};
          for (const td of tr.querySelectorAll("[data-field]")) cells[td.dataset.field] = td.dataset.value;
          out[tr.getAttribute(arguments[1])] = cells;
        }
        return out;
        """,
        report,
        key,
    )
    return rows


def test_the_default_view_shows_engineerings_maturing_work_and_unfinished_weeks(
    web: Stack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _login(browser, web)
    teams = _cells(browser, "teams", "data-team")
    for team in ENGINEERING:
        row = teams[team]
        assert Decimal(row["awus_maturing"]) > 0, (team, row)
        assert Decimal(row["projected_awus"]) > 0, (team, row)
        assert row["settles_by"] > NOW[:10], (team, row)
    # The same numbers as the API answers the page's own session.
    period = browser.find_element(By.ID, "period")
    params = f"from={period.get_attribute('data-from')}&to={period.get_attribute('data-to')}"
    answer = _fetch_json(browser, f"/api/v1/reports/efficiency?group_by=team&{params}")
    assert answer["status"] == 200
    by_team = {r["team"]: r for r in answer["body"]["results"]}
    for team in ENGINEERING:
        for field in ("awus_maturing", "projected_awus", "settles_by"):
            assert teams[team][field] == (by_team[team][field] or ""), (team, field)
    note = browser.find_element(By.ID, "maturing-note").text
    assert "Not final yet" in note
    assert "projection" in note

    provisional = browser.find_elements(By.CSS_SELECTOR, "[data-report=trend] tr.provisional")
    assert provisional, "no week is marked as not final"
    canvas = browser.find_element(By.ID, "chart-trend")
    assert canvas.get_attribute("data-shaded-weeks") == str(len(provisional))
    # The settled line leaves the unfinished weeks out: no decline is drawn there.
    settled_line = browser.execute_script(
        "return Chart.getChart(document.getElementById('chart-trend')).data.datasets[0].data"
    )
    weeks = [
        r.get_attribute("data-period")
        for r in browser.find_elements(By.CSS_SELECTOR, "[data-report=trend] tr[data-period]")
    ]
    for row in provisional:
        assert settled_line[weeks.index(row.get_attribute("data-period"))] is None
    first_provisional = provisional[-1].get_attribute("data-period")
    screenshot(browser, tmp_path, "workspace-default.png")
    element_shot(browser, browser.find_element(By.CSS_SELECTOR, ".intro"), "card-maturing-note.png")
    element_shot(browser, browser.find_element(By.ID, "teams"), "card-teams.png")
    element_shot(browser, browser.find_element(By.ID, "trend"), "card-trend.png")

    # Settled weeks only: the trend ends at the last week whose units all settled.
    browser.find_element(By.ID, "settled-toggle").click()
    WebDriverWait(browser, 20).until(lambda d: "settled=only" in d.current_url)
    _charts_drawn(browser)
    settled = browser.find_elements(By.CSS_SELECTOR, "[data-report=trend] tr[data-period]")
    assert settled
    # It ends at the last week whose units have all settled (an earlier week may
    # still hold a unit waiting for a requirement: it stays shaded).
    assert settled[-1].get_attribute("data-provisional") is None
    assert settled[-1].get_attribute("data-period") < first_provisional
    screenshot(browser, tmp_path, "workspace-settled-only.png")
    element_shot(browser, browser.find_element(By.ID, "trend"), "card-trend-settled-only.png")


def test_a_team_opens_to_its_people_and_their_units_with_evidence(
    web: Stack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _login(browser, web)
    browser.find_element(By.CSS_SELECTOR, '[data-team="payments"] a.drill').click()
    WebDriverWait(browser, 20).until(lambda d: "/teams/payments/" in d.current_url)
    _charts_drawn(browser)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Team payments"
    people = browser.find_elements(By.CSS_SELECTOR, "[data-report=people] tr[data-person] a.drill")
    assert people
    screenshot(browser, tmp_path, "workspace-team.png")
    element_shot(browser, browser.find_element(By.ID, "people"), "card-team-people.png")
    people[0].click()
    WebDriverWait(browser, 20).until(lambda d: "/people/" in d.current_url)
    _charts_drawn(browser)
    units = browser.find_elements(By.CSS_SELECTOR, "[data-report=units] tr[data-unit] a.drill")
    assert units
    screenshot(browser, tmp_path, "workspace-person.png")
    element_shot(browser, browser.find_element(By.ID, "units"), "card-person-units.png")
    units[0].click()
    evidence = browser.find_elements(By.CSS_SELECTOR, "[data-report=evidence] tbody tr")
    assert evidence
    assert "code.pr.merged" in browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, tmp_path, "workspace-unit.png")


def test_a_custom_range_compares_with_the_period_before_and_a_bad_one_is_refused(
    web: Stack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    _login(browser, web)
    browser.execute_script(
        "document.getElementById('input-from').value = '2026-10-20';"
        "document.getElementById('input-to').value = '2026-11-02';"
    )
    browser.find_element(By.ID, "input-to").send_keys(Keys.ENTER)
    WebDriverWait(browser, 20).until(lambda d: "from=2026-10-20" in d.current_url)
    _charts_drawn(browser)
    period = browser.find_element(By.ID, "period")
    assert (period.get_attribute("data-from"), period.get_attribute("data-to")) == (
        "2026-10-20",
        "2026-11-02",
    )
    now = _fetch_json(browser, "/api/v1/reports/efficiency?from=2026-10-20&to=2026-11-02")
    before = _fetch_json(browser, "/api/v1/reports/efficiency?from=2026-10-06&to=2026-10-19")
    [current], [previous] = now["body"]["results"], before["body"]["results"]
    shown = browser.find_element(By.CSS_SELECTOR, '[data-delta="token_cost_usd"]')
    expected = (Decimal(current["token_cost_usd"]) - Decimal(previous["token_cost_usd"])) / Decimal(
        previous["token_cost_usd"]
    )
    assert abs(float(shown.get_attribute("data-value")) - float(expected)) < 1e-3
    assert "vs previous" in shown.text
    screenshot(browser, tmp_path, "workspace-custom-range.png")
    total = browser.find_element(By.CSS_SELECTOR, "[data-report=total]")
    element_shot(browser, total, "card-comparison.png")

    browser.get(f"{web.base_url}/?from=2026-11-10&to=2026-11-01")
    errors = browser.find_element(By.ID, "errors")
    assert browser.find_element(By.ID, "error-to").get_attribute("data-field") == "to"
    assert "must be after from" in errors.text
    screenshot(browser, tmp_path, "workspace-refused-range.png")
    element_shot(browser, browser.find_element(By.CSS_SELECTOR, ".intro"), "card-refused-range.png")


def test_a_table_exports_as_csv_from_the_session(web: Stack, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    _login(browser, web)
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.find_element(By.CSS_SELECTOR, "#teams a.csv").click()
    target = downloads / "teams.csv"
    deadline = time.monotonic() + 20
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.exists(), list(downloads.glob("*"))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {"team", "awus_maturing", "projected_awus", "settles_by", "low_sample"} <= set(rows[0])
    assert {r["team"] for r in rows} >= set(ENGINEERING)
    # And the API's JSON, from the same session.
    browser.find_element(By.CSS_SELECTOR, "#teams a.api").click()
    assert '"results"' in browser.find_element(By.TAG_NAME, "body").text


def test_keyboard_reaches_every_control_and_axe_finds_no_violation(
    web: Stack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    axe_js = assets.DEV_VENDOR_DIR / assets.AXE_JS
    missing_or_skip(
        None
        if axe_js.is_file()
        else "axe-core is not installed (python -m awu.dashboard.assets --dev)"
    )
    _login(browser, web)
    # Tab through the page: the period links, the filters and a team's drill-down.
    reached = []
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(40):
        active = browser.switch_to.active_element
        reached.append(active.get_attribute("id") or active.get_attribute("class") or active.text)
        if "drill" in (active.get_attribute("class") or ""):
            break
        active.send_keys(Keys.TAB)
    assert {"input-from", "input-to", "input-domain", "input-ai", "apply"} <= set(reached)
    assert "drill" in reached[-1], reached
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, 20).until(lambda d: "/teams/" in d.current_url)
    _charts_drawn(browser)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Team ")

    for path in ("/", browser.current_url.replace(web.base_url, "")):
        browser.get(f"{web.base_url}{path}")
        _charts_drawn(browser)
        browser.execute_script(axe_js.read_text())
        result = browser.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}})
              .then(r => done(r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(" "))}))));
            """
        )
        assert result == [], (path, result)
    screenshot(browser, tmp_path, "workspace-team-keyboard.png")
