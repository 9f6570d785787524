"""The dashboard for a viewer limited to teams: their teams' numbers only; another
team's page, person or unit is not found; a user with no role is told to ask for one."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from ledger import access
from ledger.models import Team
from tests.awu.reports import build
from tests.awu.reports.test_team_limits import build_alpha, build_others

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture(autouse=True)
def _pinned_clock(settings: Any) -> None:
    settings.AWU_NOW = "2026-04-02T12:00:00Z"


def _signed_in(name: str, **grant: Any) -> Client:
    user = User.objects.create_user(name, password="a long pass phrase")
    if grant:
        access.grant(user=user, **grant)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world() -> dict[str, Any]:
    return {**build_alpha(), **build_others()}


def test_a_viewer_limited_to_a_team_sees_only_its_numbers(world: dict[str, Any]) -> None:
    limited = _signed_in("alpha-viewer", role=access.VIEWER, team=world["alpha"])
    everyone = _signed_in("viewer", role=access.VIEWER)
    page = limited.get("/", MARCH)
    assert page.status_code == 200
    teams = {row["team"] for row in page.context["teams"]}
    assert teams == {"alpha", "alpha-sub", "alpha-ops"}
    assert {row["team"] for row in everyone.get("/", MARCH).context["teams"]} >= {"beta", None}
    html = page.content.decode()
    assert "beta" not in html  # no team row, voided reason, marker or domain of B
    assert sum(r["people"] for r in page.context["deciles"]) == 4
    # The page's numbers are the API's for the same session (its "API" links).
    api = limited.get("/api/v1/reports/efficiency", MARCH).json()["results"][0]
    assert page.context["total"]["awus_completed"] == api["awus_completed"]
    assert page.context["total"]["token_cost_usd"] == api["token_cost_usd"]
    assert page.context["domains"] == ["engineering", "operations"]


def test_another_teams_pages_are_not_found(world: dict[str, Any]) -> None:
    limited = _signed_in("alpha-viewer", role=access.VIEWER, team=world["alpha"])
    bob = build.Person.objects.get(name="bob")
    sam = build.Person.objects.get(name="sam")
    assert limited.get("/teams/beta/", MARCH).status_code == 404
    assert limited.get("/teams/alpha-sub/", MARCH).status_code == 200
    assert limited.get(f"/people/{bob.pk}/", MARCH).status_code == 404
    assert limited.get(f"/people/{sam.pk}/", MARCH).status_code == 200
    assert limited.get(f"/units/{world['b_unit'].pk}/").status_code == 404
    assert limited.get(f"/units/{world['loose_unit'].pk}/").status_code == 404
    assert limited.get(f"/units/{world['a_unit'].pk}/").status_code == 200


def test_a_person_page_shows_only_the_limited_teams_work(world: dict[str, Any]) -> None:
    # ann also did work and spent for team B: a viewer of A sees her A numbers only.
    ann = build.Person.objects.get(name="ann")
    limited = _signed_in("alpha-viewer", role=access.VIEWER, team=world["alpha"])
    everyone = _signed_in("viewer", role=access.VIEWER)
    mine = limited.get(f"/people/{ann.pk}/", MARCH).context
    theirs = everyone.get(f"/people/{ann.pk}/", MARCH).context
    assert {u["team"] for u in mine["units"]} == {"alpha"}
    assert "beta" in {u["team"] for u in theirs["units"]}
    assert mine["total"]["token_cost_usd"] == "5.000000000"


def test_a_team_lead_reads_the_teams_they_lead() -> None:
    alpha = Team.objects.create(slug="alpha", name="alpha")
    Team.objects.create(slug="beta", name="beta")
    lead = _signed_in("lead", role=access.TEAM_LEAD, team=alpha)
    assert lead.get("/teams/alpha/", MARCH).status_code == 200
    assert lead.get("/teams/beta/", MARCH).status_code == 404


@pytest.mark.parametrize("path", ["/", "/teams/alpha/", "/people/1/", "/units/1/"])
def test_a_user_without_a_role_is_asked_to_get_one(path: str) -> None:
    Team.objects.create(slug="alpha", name="alpha")
    build.unit(build.definition(), units="2")
    response = _signed_in("nobody").get(path)
    assert response.status_code == 403
    html = response.content.decode()
    assert "Ask an admin for a role" in html
    assert "awus" not in html.lower()
