"""GET /: the leadership dashboard. Log-in required; every number equals the API's."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from awu.dashboard import assets
from ledger import access
from tests.awu.reports import build
from tests.conftest import Api
from tests.dashboard.dom import as_text, page_numbers

pytestmark = pytest.mark.django_db

# The clock is pinned here: "last 30 days" is 2026-02-19 .. 2026-03-20, and the
# report builders put their rows in March 2026.
NOW = "2026-03-20T12:00:00Z"
PERIOD = {"from": "2026-02-19", "to": "2026-03-20"}


@pytest.fixture(autouse=True)
def _pinned_clock(settings: Any) -> None:
    settings.AWU_NOW = NOW


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


@pytest.fixture
def viewer(client: Client) -> Client:
    user = User.objects.create_user("lead", password="a long pass phrase")
    access.grant(user=user, role=access.VIEWER)
    client.force_login(user)
    return client


@pytest.fixture
def organisation() -> dict[str, Any]:
    """Two teams with spend and AWUs, AI-assisted and other work, voided units."""
    payments, search = build.team("payments"), build.team("search")
    alice = build.person("alice", team_slug="payments")
    bob = build.person("bob", team_slug="search")
    carol = build.person("carol", team_slug="search")
    version = build.definition()
    build.unit(version, owner=alice, team_=payments, units="3", ai_assisted=True)
    build.unit(version, owner=alice, team_=payments, units="1", ai_assisted=False)
    build.unit(
        version, owner=bob, team_=search, units="2", ai_assisted=True, triggered_at=build.at(9)
    )
    reverted = build.unit(
        version,
        owner=bob,
        team_=search,
        state="voided",
        ai_assisted=True,
        reason="voided by code.reverted (event 901)",
    )
    build.unit(
        version,
        owner=carol,
        team_=search,
        state="voided",
        units="2",
        reason="voided by code.reverted (event 902)",
        triggered_at=build.at(10),
    )
    rolled_back = build.unit(
        version,
        owner=carol,
        team_=search,
        state="voided",
        reason="voided by deploy.rolled_back (event 903)",
    )
    build.unit(version, owner=carol, team_=search, state="pending", units="1")
    build.usage(actor="alice@example.com", cost="6.00")
    build.usage(actor="bob@example.com", cost="40.00", occurred_at=build.at(9))
    build.usage(actor="carol@example.com", cost="0.004")
    return {"reverted": reverted, "rolled_back": rolled_back}


def page(client: Client, **params: str) -> tuple[dict[str, Any], list[str], str]:
    response = client.get("/", params)
    assert response.status_code == 200
    html = response.content.decode()
    numbers, links = page_numbers(html)
    return numbers, links, html


def api_rows(reader: Api, path: str, **params: str) -> list[dict[str, Any]]:
    response = reader.get(path, {**PERIOD, **params})
    assert response.status_code == 200, response.content
    rows: list[dict[str, Any]] = response.json()["results"]
    return rows


def assert_row_matches(shown: dict[str, str], row: dict[str, Any]) -> None:
    assert shown, "the row shows no numbers"
    for field, value in shown.items():
        assert value == as_text(row[field]), (field, value, row[field])


def test_anonymous_visitors_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_the_login_form_logs_a_person_in_and_lands_on_the_dashboard(client: Client) -> None:
    access.grant(
        user=User.objects.create_user("lead", password="a long pass phrase"), role=access.VIEWER
    )
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "lead", "password": "a long pass phrase"})
    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.get("/").status_code == 200


def test_an_inactive_user_cannot_log_in(client: Client) -> None:
    User.objects.create_user("gone", password="a long pass phrase", is_active=False)
    response = client.post("/login/", {"username": "gone", "password": "a long pass phrase"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert client.get("/").status_code == 302


def test_logging_out_ends_the_session(viewer: Client) -> None:
    response = viewer.post("/logout/")
    assert (response.status_code, response["Location"]) == (302, "/login/")
    assert viewer.get("/").status_code == 302


def test_per_team_numbers_equal_the_efficiency_api_by_team(
    viewer: Client, reader: Api, organisation: dict[str, Any]
) -> None:
    numbers, _, _ = page(viewer)
    api = {
        row["team"]: row for row in api_rows(reader, "/api/v1/reports/efficiency", group_by="team")
    }
    assert set(numbers["teams"]) == {"payments", "search"} == set(api)
    for team, shown in numbers["teams"].items():
        assert_row_matches(shown, api[team])
    # The numbers behind the check are the ones built above, not two empty answers.
    assert numbers["teams"]["payments"]["awus_per_dollar"] == "0.666667"


def test_totals_deciles_and_trend_equal_the_api(
    viewer: Client, reader: Api, organisation: dict[str, Any]
) -> None:
    numbers, _, _ = page(viewer)
    [total] = api_rows(reader, "/api/v1/reports/efficiency")
    assert_row_matches(numbers["total"][""], total)
    deciles = {str(r["decile"]): r for r in api_rows(reader, "/api/v1/reports/spend-deciles")}
    assert set(numbers["deciles"]) == {d for d, r in deciles.items() if r["people"]}
    for decile, shown in numbers["deciles"].items():
        assert_row_matches(shown, deciles[decile])
    trend = api_rows(reader, "/api/v1/reports/trend", interval="week")
    assert list(numbers["trend"]) == [r["period"] for r in trend]
    for row in trend:
        assert_row_matches(numbers["trend"][row["period"]], row)


def test_durability_of_ai_assisted_and_other_work_equals_the_api_filtered_by_ai(
    viewer: Client, reader: Api, organisation: dict[str, Any]
) -> None:
    numbers, _, _ = page(viewer)
    for ai in ("assisted", "not"):
        [row] = api_rows(reader, "/api/v1/reports/efficiency", ai=ai)
        assert_row_matches(numbers["durability"][ai], row)
    assert numbers["durability"]["assisted"]["durability"] == "0.833333"


def test_quality_measures_all_ai_assisted_and_other_equal_the_api(
    viewer: Client, reader: Api, organisation: dict[str, Any]
) -> None:
    numbers, _, _ = page(viewer)
    [total] = api_rows(reader, "/api/v1/reports/efficiency")
    assert set(numbers["quality"]) == {
        "incidents_per_completed_unit",
        "bugs_per_completed_unit",
        "review_hours_per_completed_unit",
    }
    for shown in numbers["quality"].values():
        assert len(shown) == 3
        assert_row_matches(shown, total)


def test_top_voided_reasons_count_the_voided_units_the_api_lists(
    viewer: Client, reader: Api, organisation: dict[str, Any]
) -> None:
    numbers, links, _ = page(viewer)
    voided = api_rows(reader, "/api/v1/work-units", state="voided")
    by_cause = Counter(unit["reason_code"].split()[2] for unit in voided)
    assert {k: int(v["units"]) for k, v in numbers["voided"].items()} == dict(by_cause)
    assert list(numbers["voided"]) == ["code.reverted", "deploy.rolled_back"]
    [total] = api_rows(reader, "/api/v1/reports/efficiency")
    shown = sum(float(v["awus_voided"]) for v in numbers["voided"].values())
    assert shown == float(total["awus_voided"])
    assert f"/units/{organisation['rolled_back'].pk}/" in links


def test_a_voided_reason_links_to_the_evidence_of_its_unit(
    viewer: Client, organisation: dict[str, Any]
) -> None:
    unit = organisation["reverted"]
    response = viewer.get(f"/units/{unit.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/api/v1/work-units/{unit.pk}"' in html
    assert "voided by code.reverted (event 901)" in html
    assert "code.pr.merged" in html  # the trigger event, the evidence chain's first link


def test_an_unknown_work_unit_is_a_404_page(viewer: Client) -> None:
    response = viewer.get("/units/999999/")
    assert response.status_code == 404
    assert b"No such work unit" in response.content


def test_the_page_makes_a_bounded_number_of_queries(
    viewer: Client, organisation: dict[str, Any]
) -> None:
    """Many teams, people and voided units: the count must not grow with them (the
    same at 12 and 36 teams), and stays under a ceiling (each report side reads its
    sums, then its people from the people by month; the alerts panel; the roles)."""
    version = build.definition()

    def queries_with(teams: range) -> int:
        for n in teams:
            owner = build.person(f"p{n}", team_slug=f"team-{n}")
            build.unit(version, owner=owner, team_=build.team(f"team-{n}"), units="2")
            build.unit(
                version, owner=owner, state="voided", reason=f"voided by x.cause-{n} (event 1)"
            )
            build.usage(actor=f"p{n}@example.com", cost="3.00")
        viewer.get("/")  # brings the rollups up to date; the bound is for a steady page
        with CaptureQueriesContext(connection) as queries:
            assert viewer.get("/?days=120").status_code == 200
        return len(queries)

    few = queries_with(range(12))
    many = queries_with(range(12, 36))
    assert few == many
    assert many <= 50


def test_numbers_are_formatted_for_people(viewer: Client, organisation: dict[str, Any]) -> None:
    _, _, html = page(viewer)
    assert 'data-value="46.004000000">$46.00<' in html  # money as dollars
    assert 'data-value="0.130423">0.13<' in html  # ratios to three significant digits
    assert 'data-value="0.666667">66.7%<' in html  # shares as percents


def _spend_cell(html: str, attribute: str, key: str) -> str:
    """The spend cell of one table row, as written: value attribute and text."""
    row = re.search(rf'<tr {attribute}="{re.escape(key)}"[^>]*>(.*?)</tr>', html, re.DOTALL)
    assert row, (attribute, key)
    cell = re.search(r'data-field="token_cost_usd" (data-value="[^"]*">[^<]*)<', row.group(1))
    assert cell, row.group(1)
    return cell.group(1)


def test_a_team_row_with_unpriced_records_says_so(
    viewer: Client, reader: Api, organisation: dict[str, Any]
) -> None:
    build.usage(actor="alice@example.com", cost=None, model="unlisted-model")
    build.person("dave", team_slug="ops")
    build.usage(actor="dave@example.com", cost=None, model="unlisted-model")
    build.usage(actor="dave@example.com", cost=None, model="unlisted-model")
    numbers, _, html = page(viewer)
    api = {
        row["team"]: row for row in api_rows(reader, "/api/v1/reports/efficiency", group_by="team")
    }
    for team, shown in numbers["teams"].items():
        assert_row_matches(shown, api[team])
    # Partly unpriced: the priced spend and how many records it leaves out.
    assert (
        _spend_cell(html, "data-team", "payments") == 'data-value="6.000000000">$6.00 + 1 unpriced'
    )
    # Wholly unpriced: not $0, and no rate over a cost nobody knows.
    assert _spend_cell(html, "data-team", "ops") == 'data-value="">unknown (2 unpriced)'
    assert numbers["teams"]["ops"]["awus_per_dollar"] == ""
    assert _spend_cell(html, "data-team", "search") == 'data-value="40.004000000">$40.00'


def test_decile_and_trend_rows_with_unpriced_records_say_so(
    viewer: Client, organisation: dict[str, Any]
) -> None:
    build.usage(actor="carol@example.com", cost=None, model="unlisted-model")
    _, _, html = page(viewer)
    # carol spends least: decile 1 of three people; her usage is in the week of 2 March.
    assert _spend_cell(html, "data-decile", "1") == 'data-value="0.004000000">$0.004 + 1 unpriced'
    assert _spend_cell(html, "data-period", "2026-03-02") == (
        'data-value="6.004000000">$6.00 + 1 unpriced'
    )


def test_the_total_spend_reads_unknown_when_every_record_is_unpriced(viewer: Client) -> None:
    build.usage(cost=None, model="unlisted-model")
    numbers, _, html = page(viewer)
    assert numbers["total"][""]["token_cost_usd"] == ""
    assert 'data-field="token_cost_usd" data-value="">unknown (1 unpriced)<' in html
    assert "1 usage record, 1 unpriced" in html


def test_the_period_selector_picks_the_last_90_days(
    viewer: Client, reader: Api, organisation: dict[str, Any]
) -> None:
    build.unit(build.definition(), units="5", triggered_at=build.at(2).replace(month=1, day=5))
    _, _, html = page(viewer, days="90")
    assert 'data-from="2025-12-21" data-to="2026-03-20"' in html
    numbers, _, _ = page(viewer, days="90")
    response = reader.get("/api/v1/reports/efficiency", {"from": "2025-12-21", "to": "2026-03-20"})
    [total] = response.json()["results"]
    assert_row_matches(numbers["total"][""], total)
    assert total["awus_completed"] == "11.000000"


def test_an_unknown_period_falls_back_to_the_last_30_days(viewer: Client) -> None:
    _, _, html = page(viewer, days="7")
    assert 'data-from="2026-02-19" data-to="2026-03-20"' in html


def test_an_empty_ledger_shows_empty_states_and_dashes(viewer: Client) -> None:
    numbers, _, html = page(viewer)
    assert "No team has work or token spend in this period." in html
    assert "No unit was voided in this period." in html
    assert numbers["total"][""]["awus_per_dollar"] == ""
    assert 'data-field="awus_per_dollar" data-value="">—<' in html


def test_the_page_shows_every_number_without_the_charting_library(
    viewer: Client, organisation: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path)  # a server where assets never ran
    numbers, _, html = page(viewer)
    assert "chart.umd.min.js" not in html
    assert 'id="charts-missing"' in html
    assert "<canvas" not in html
    assert set(numbers["teams"]) == {"payments", "search"}


def test_the_page_loads_the_charting_library_when_it_is_installed(
    viewer: Client, organisation: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / assets.CHART_JS).write_text("/* stand-in */")
    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path)
    _, _, html = page(viewer)
    assert "dashboard/vendor/chart.umd.min.js" in html
    assert 'id="chart-teams"' in html
    assert 'id="dashboard-data"' in html
