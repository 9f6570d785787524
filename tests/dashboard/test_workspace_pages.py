"""The workspace around the dashboard: periods, comparison, filters, drill-down, maturity."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from awu.dashboard.page import delta
from awu.dashboard.periods import period_for
from ledger import access
from tests.awu.reports import build

pytestmark = pytest.mark.django_db

NOW = "2026-03-20T12:00:00Z"
TODAY = date(2026, 3, 20)


@pytest.fixture(autouse=True)
def _pinned_clock(settings: Any) -> None:
    settings.AWU_NOW = NOW


@pytest.fixture
def viewer(client: Client) -> Client:
    user = User.objects.create_user("lead", password="a long pass phrase")
    access.grant(user=user, role=access.VIEWER)
    client.force_login(user)
    return client


@pytest.fixture
def payments() -> dict[str, Any]:
    team = build.team("payments")
    alice = build.person("alice", team_slug="payments")
    version = build.definition(survive_days=30)
    done = build.unit(version, owner=alice, team_=team, units="2", triggered_at=build.at(2))
    when = build.at(10)
    waiting = build.unit(
        version, owner=alice, team_=team, state="pending", triggered_at=when, satisfied_at=when
    )
    build.usage(actor="alice@example.com", cost="4.00", occurred_at=build.at(3))
    return {"alice": alice, "done": done, "waiting": waiting}


def test_presets_give_this_and_last_quarter() -> None:
    this, errors = period_for({"range": "this_quarter"}, today=TODAY)
    assert (this.first, this.last, errors) == (date(2026, 1, 1), TODAY, {})
    last, _ = period_for({"range": "last_quarter"}, today=TODAY)
    assert (last.first, last.last) == (date(2025, 10, 1), date(2025, 12, 31))
    assert last.previous().last == date(2025, 9, 30)
    assert last.previous().days == last.days


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"from": "2022-01-01", "to": "2026-03-01"}, "to"),
        ({"from": "2026-04-01", "to": "2026-04-02"}, "from"),
        ({"from": "2026-03-01"}, "to"),
        ({"from": "yesterday", "to": "2026-03-01"}, "from"),
    ],
)
def test_a_bad_range_is_refused_on_the_page_naming_the_field(
    viewer: Client, query: dict[str, str], field: str
) -> None:
    response = viewer.get("/", query)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="error-{field}"' in html
    assert "showing the last 30 days instead" in html


def test_a_custom_range_reads_that_period(viewer: Client, payments: dict[str, Any]) -> None:
    response = viewer.get("/", {"from": "2026-03-01", "to": "2026-03-05"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-from="2026-03-01" data-to="2026-03-05"' in html
    assert "24 Feb 2026 \u2013 28 Feb 2026" in html  # the five days before
    assert response.context["total"]["awus_completed"] == "2.000000"


def test_the_comparison_gives_deltas_on_the_headline_numbers(
    viewer: Client, payments: dict[str, Any]
) -> None:
    build.unit(build.definition(), units="1", triggered_at=build.at(10, month=2))
    response = viewer.get("/", {"from": "2026-03-01", "to": "2026-03-20"})
    # 2 AWUs against 1 in the twenty days before.
    assert response.context["deltas"]["awus_completed"] == 1.0
    assert 'data-delta="awus_completed" data-value="1.0">+100% vs previous' in (
        response.content.decode()
    )


def test_delta_has_no_base_for_zero_or_null() -> None:
    assert delta("3", "0") is None
    assert delta(None, "2") is None
    assert delta("1.5", "2") == -0.25


def test_the_page_shows_maturing_units_their_projection_and_settle_day(
    viewer: Client, payments: dict[str, Any]
) -> None:
    html = viewer.get("/", {"from": "2026-03-01", "to": "2026-03-20"}).content.decode()
    assert 'id="maturing-note" data-settles-by="2026-04-09"' in html
    assert 'data-field="awus_maturing" data-value="1.000000"' in html
    assert 'class="provisional" data-provisional="true"' in html


def test_filters_reach_every_report(viewer: Client, payments: dict[str, Any]) -> None:
    response = viewer.get("/", {"from": "2026-03-01", "to": "2026-03-20", "ai": "assisted"})
    assert response.status_code == 200
    assert response.context["total"]["awus_completed"] == "0.000000"
    assert "ai=assisted" in response.context["api"]["teams"]


def test_a_bad_filter_is_refused_naming_it(viewer: Client) -> None:
    response = viewer.get("/", {"ai": "sometimes"})
    assert response.status_code == 400
    assert 'id="error-ai"' in response.content.decode()


def test_a_team_opens_to_its_people_and_a_person_to_their_units(
    viewer: Client, payments: dict[str, Any]
) -> None:
    period = {"from": "2026-03-01", "to": "2026-03-20"}
    html = viewer.get("/", period).content.decode()
    assert 'href="/teams/payments/?from=2026-03-01&amp;to=2026-03-20"' in html
    team = viewer.get("/teams/payments/", period)
    assert team.status_code == 200
    [row] = team.context["people"]
    assert row["name"] == "alice"
    alice = payments["alice"].pk
    assert f'href="/people/{alice}/?from=2026-03-01' in team.content.decode()
    person = viewer.get(f"/people/{alice}/", {**period, "team": "payments"})
    assert person.status_code == 200
    units = {u["id"] for u in person.context["units"]}
    assert units == {payments["done"].pk, payments["waiting"].pk}
    assert f'href="/units/{payments["done"].pk}/"' in person.content.decode()


def test_unknown_teams_and_people_are_404_pages(viewer: Client) -> None:
    assert viewer.get("/teams/nowhere/").status_code == 404
    assert viewer.get("/people/999999/").status_code == 404


def test_drill_down_pages_need_a_login(client: Client) -> None:
    assert client.get("/teams/payments/").status_code == 302
