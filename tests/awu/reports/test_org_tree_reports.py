"""Reports by department and by cost centre: the org tree read at query time."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from awu.reports.rollups import rollups_refresh
from ledger import directory
from ledger.models import Team
from ledger.teams import team_merge
from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/efficiency"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
# The same period, read from the raw facts rather than the rollups.
RAW = {"from": "2026-03-01", "to": "2026-03-31", "as_of": "2026-11-01"}


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


@pytest.fixture
def org(settings: Any) -> dict[str, Team]:
    """eng (CC-ENG) > web, api (CC-API); sales (no cost centre); legacy merged into web.

    The directory is recorded before ``RAW``'s ``as_of`` (which reads it as known then)."""
    settings.AWU_NOW = "2026-10-15T00:00:00Z"
    eng = Team.objects.create(slug="eng", name="Engineering", cost_centre="CC-ENG")
    teams = {
        "eng": eng,
        "web": Team.objects.create(slug="web", name="Web", parent=eng),
        "api": Team.objects.create(slug="api", name="API", parent=eng, cost_centre="CC-API"),
        "sales": Team.objects.create(slug="sales", name="Sales"),
        "legacy": Team.objects.create(slug="legacy", name="Legacy"),
    }
    team_merge(team=teams["legacy"], into=teams["web"])
    version = build.definition()
    for n, (slug, units, cost) in enumerate(
        [
            ("web", "3", "6.00"),
            ("api", "2", "10.00"),
            ("sales", "5", "1.00"),
            ("legacy", "1", "2.00"),
        ]
    ):
        person = build.person(f"p{n}", team_slug=slug)
        build.unit(version, owner=person, team_=teams[slug], units=units)
        build.usage(actor=f"p{n}@example.com", cost=cost)
    rollups_refresh()
    return teams


def _by(reader: Api, group_by: str, period: dict[str, str]) -> dict[Any, dict[str, Any]]:
    response = reader.get(URL, {**period, "group_by": group_by})
    assert response.status_code == 200, response.content
    assert response.json()["group_by"] == [group_by]
    return {row[group_by]: row for row in response.json()["results"]}


def _sum(rows: list[dict[str, Any]], field: str) -> Decimal:
    return sum((Decimal(r[field]) for r in rows), Decimal(0))


@pytest.mark.parametrize("period", [MARCH, RAW], ids=["rollups", "raw"])
def test_a_department_is_the_sum_of_its_teams(
    reader: Api, org: dict[str, Team], period: dict[str, str]
) -> None:
    teams = _by(reader, "team", period)
    departments = _by(reader, "department", period)
    assert set(departments) == {"eng", "sales"}
    eng_teams = [teams["web"], teams["api"]]  # legacy counts as web
    for field in ("awus_completed", "token_cost_usd"):
        assert Decimal(departments["eng"][field]) == _sum(eng_teams, field)
        assert departments["sales"][field] == teams["sales"][field]
    assert departments["eng"]["awus_completed"] == "6.000000"
    assert departments["eng"]["token_cost_usd"] == "18.000000000"


@pytest.mark.parametrize("period", [MARCH, RAW], ids=["rollups", "raw"])
def test_a_cost_centre_is_inherited_from_the_nearest_ancestor(
    reader: Api, org: dict[str, Team], period: dict[str, str]
) -> None:
    centres = _by(reader, "cost_centre", period)
    assert set(centres) == {"CC-ENG", "CC-API", None}
    assert centres["CC-ENG"]["awus_completed"] == "4.000000"  # web and legacy
    assert centres["CC-API"]["token_cost_usd"] == "10.000000000"
    assert centres[None]["awus_completed"] == "5.000000"  # sales has none


def test_a_tree_edit_shows_at_the_next_query_past_periods_included(
    reader: Api, org: dict[str, Team]
) -> None:
    directory.team_update(team=org["sales"], parent=org["eng"])
    directory.team_update(team=org["eng"], cost_centre="CC-NEW")
    assert set(_by(reader, "department", MARCH)) == {"eng"}
    assert set(_by(reader, "cost_centre", MARCH)) == {"CC-NEW", "CC-API"}


def test_department_groups_with_a_month_and_in_csv(reader: Api, org: dict[str, Team]) -> None:
    response = reader.get(URL, {**MARCH, "group_by": "department,month", "format": "csv"})
    assert response.status_code == 200
    header, *lines = response.content.decode().splitlines()
    assert header.startswith("department,period,")
    assert sorted(line.split(",")[0] for line in lines) == ["eng", "sales"]


def test_an_unknown_grouping_names_the_choices(reader: Api) -> None:
    response = reader.get(URL, {**MARCH, "group_by": "division"})
    assert response.status_code == 400
    assert "department" in response.json()["errors"]["group_by"][0]
