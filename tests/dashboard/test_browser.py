"""The dashboard in a real browser: headless Chromium logs in through the form,
waits for the charts, and reads the numbers the API answers off the page.

A real gunicorn serves the test database (committed data: ``transactional_db``).
Debian's chromium and chromium-driver are used as installed; no browser is ever
downloaded. Without them the test skips, except on CI (CI=true), where it fails.
The screenshot lands in test-output/dashboard.png and the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from awu.dashboard.templatetags.dashboard_format import NONE, awus, day, percent, ratio, usd
from ledger import access, auth
from tests.awu.reports import build
from tests.dashboard.conftest import PASSWORD, screenshot
from tests.dashboard.dom import as_text
from tests.e2e.conftest import Stack, stack_environment

pytestmark = pytest.mark.e2e

# How each field is written for people (the API's value stays in data-value).
FORMATS = {
    "awus_completed": awus,
    "token_cost_usd": usd,
    "awus_per_dollar": ratio,
    "cost_per_awu": usd,
    "durability": percent,
    "ai_assisted_share": percent,
    "units": str,
    "awus_maturing": awus,
    "projected_awus": lambda v: NONE if v is None else f"≈ {awus(v)}",
    "settles_by": lambda v: day(v) if v else "final",
}


@pytest.fixture
def web(transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    """gunicorn alone (no worker: the page only reads) on the test database."""
    env = stack_environment(tmp_path, queue="unused", broker=None)
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Stack(env=env, logs=logs, queue="unused", broker_url=None)
    try:
        running.start_web()
        running.wait_ready()
        yield running
    finally:
        running.stop()


def _organisation() -> None:
    """Three teams over the last few weeks (the server reads the real clock)."""
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)

    def ago(days: int) -> datetime:
        return now - timedelta(days=days)

    version = build.definition()
    plan = [
        ("payments", "alice", [("3", 4, True), ("2", 11, True), ("1", 18, False)], "12.50"),
        ("search", "bob", [("4", 5, True), ("1", 9, False)], "96.00"),
        ("growth", "carol", [("1", 6, False)], "2.75"),
    ]
    for team_slug, name, units, spend in plan:
        owner = build.person(name, team_slug=team_slug)
        for amount, days, ai in units:
            build.unit(
                version,
                owner=owner,
                team_=build.team(team_slug),
                units=amount,
                ai_assisted=ai,
                triggered_at=ago(days),
            )
        build.usage(actor=f"{name}@example.com", cost=spend, occurred_at=ago(3))
    build.unit(
        version,
        owner=build.person("dave", team_slug="search"),
        team_=build.team("search"),
        state="voided",
        ai_assisted=True,
        reason="voided by code.reverted (event 77)",
        triggered_at=ago(8),
    )


def _dom_rows(driver: Any, report: str, key: str) -> dict[str, dict[str, tuple[str, str]]]:
    """{row key: {field: (data-value, text)}} of one table, read in the browser."""
    rows: dict[str, dict[str, tuple[str, str]]] = driver.execute_script(
        """
        const out = {};
        for (const tr of document.querySelectorAll(`[data-report="${arguments[0]}"] tr[${arguments[1]}]`)) {
          const cells = {};
          for (const td of tr.querySelectorAll("[data-field]")) {
            cells[td.dataset.field] = [td.dataset.value, td.textContent.trim()];
          }
          out[tr.getAttribute(arguments[1])] = cells;
        }
        return out;
        """,
        report,
        key,
    )
    return rows


def _painted_pixels(driver: Any, canvas_id: str) -> int:
    count: int = driver.execute_script(
        """
        const c = document.getElementById(arguments[0]);
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;
        """,
        canvas_id,
    )
    return count


def test_a_leader_logs_in_and_sees_the_api_numbers_with_charts_drawn(
    web: Stack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _organisation()
    access.grant(user=User.objects.create_user("lead", password=PASSWORD), role=access.VIEWER)
    _, key = auth.api_key_create(name="dashboard-check", scopes=["reports:read"])

    browser.get(f"{web.base_url}/")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.ID, "id_username")))
    assert browser.current_url == f"{web.base_url}/login/?next=/"
    screenshot(browser, tmp_path, "dashboard-login.png")
    browser.find_element(By.ID, "id_username").send_keys("lead")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda d: d.execute_script("return document.documentElement.dataset.charts"))

    assert browser.current_url == f"{web.base_url}/"
    assert browser.execute_script("return document.documentElement.dataset.charts") == "drawn"
    for canvas in ("chart-teams", "chart-deciles", "chart-durability", "chart-trend"):
        assert _painted_pixels(browser, canvas) > 500, f"{canvas} is blank"

    period = browser.find_element(By.ID, "period")
    params = {"from": period.get_attribute("data-from"), "to": period.get_attribute("data-to")}
    headers = {"Authorization": f"Bearer {key}"}

    def api(path: str, **extra: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{web.base_url}{path}", params={**params, **extra}, headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["results"]
        return rows

    by_team = {r["team"]: r for r in api("/api/v1/reports/efficiency", group_by="team")}
    shown = _dom_rows(browser, "teams", "data-team")
    assert set(shown) == {"payments", "search", "growth"} == set(by_team)
    for team, cells in shown.items():
        for field, (value, text) in cells.items():
            assert value == as_text(by_team[team][field]), (team, field)
            assert text == FORMATS[field](by_team[team][field]), (team, field, text)
    # Most AWUs per dollar first, as the chart draws them (all three are small
    # samples here, so ranked among themselves).
    order = [
        r.get_attribute("data-team")
        for r in browser.find_elements(By.CSS_SELECTOR, "[data-report=teams] tr[data-team]")
    ]
    assert order == ["payments", "growth", "search"]

    [total] = api("/api/v1/reports/efficiency")
    kpis = browser.find_elements(By.CSS_SELECTOR, "[data-report=total] [data-field]")
    assert {k.get_attribute("data-field"): k.get_attribute("data-value") for k in kpis} == {
        field: as_text(total[field])
        for field in (
            "awus_completed",
            "token_cost_usd",
            "awus_per_dollar",
            "cost_per_awu",
            "durability",
            "ai_assisted_share",
            "awus_maturing",
            "projected_awus",
        )
    }
    assert total["awus_completed"] == "12.000000"

    deciles = {str(r["decile"]): r for r in api("/api/v1/reports/spend-deciles")}
    for decile, cells in _dom_rows(browser, "deciles", "data-decile").items():
        for field, (value, _) in cells.items():
            assert value == as_text(deciles[decile][field]), (decile, field)

    [assisted] = api("/api/v1/reports/efficiency", ai="assisted")
    durability = _dom_rows(browser, "durability", "data-ai")
    assert durability["assisted"]["durability"][0] == as_text(assisted["durability"])

    evidence = browser.find_element(By.CSS_SELECTOR, "[data-report=voided] a.evidence")
    assert "/units/" in (evidence.get_attribute("href") or "")

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe

    screenshot(browser, tmp_path, "dashboard.png")

    # The evidence behind a voided reason, one click away.
    evidence.click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-unit]")))
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "voided by code.reverted (event 77)" in page
    assert "code.pr.merged" in page
    screenshot(browser, tmp_path, "dashboard-unit.png")
