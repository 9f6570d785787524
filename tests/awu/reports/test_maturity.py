"""Maturity in the efficiency and trend reports: awus_maturing, projected_awus, settles_by."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings

from awu.definitions.models import DefinitionVersion
from tests.awu.reports import build
from tests.conftest import Api

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

URL = "/api/v1/reports/efficiency"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def pinned_clock(settings: Any) -> None:
    settings.AWU_NOW = "2026-03-31T12:00:00Z"
    settings.AWU_REPORTS_DURABILITY_MIN_UNITS = 4


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


def rows(reader: Api, url: str = URL, **params: Any) -> list[dict[str, Any]]:
    response = reader.get(url, {**MARCH, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def history(version: DefinitionVersion, team: str, *, stuck: int, voided: int) -> None:
    """Settled units of ``team`` triggered in January (inside the lookback)."""
    for i in range(stuck + voided):
        build.unit(
            version,
            team_=build.team(team),
            state="completed" if i < stuck else "voided",
            triggered_at=build.at(5 + i % 20, month=1),
        )


def maturing(version: DefinitionVersion, team: str, count: int, *, day: int = 2) -> None:
    for _ in range(count):
        when = build.at(day)
        build.unit(
            version, team_=build.team(team), state="pending", triggered_at=when, satisfied_at=when
        )


def test_maturing_units_are_projected_at_the_teams_historical_durability(reader: Api) -> None:
    version = build.definition(survive_days=30)
    history(version, "payments", stuck=4, voided=1)
    maturing(version, "payments", 3)
    [row] = rows(reader, group_by="team")
    assert row["awus_completed"] == "0.000000"
    assert row["awus_maturing"] == "3.000000"
    # 4 of 5 settled units stuck: 3 x 0.8.
    assert row["projected_awus"] == "2.400000"
    # Triggered and satisfied on 2 March, 30 days to survive.
    assert row["settles_by"] == "2026-04-01"
    assert row["denominators"]["maturing_units"] == 3
    assert row["denominators"]["pending_units"] == 3


def test_a_team_with_little_history_takes_the_definitions_rate(reader: Api) -> None:
    version = build.definition(survive_days=30)
    history(version, "payments", stuck=3, voided=1)
    history(version, "mobile", stuck=1, voided=0)
    maturing(version, "mobile", 2)
    by_team = {r["team"]: r for r in rows(reader, group_by="team")}
    # mobile has 1 settled unit (fewer than 4): the definition's 4 of 5 over every team.
    assert by_team["mobile"]["projected_awus"] == "1.600000"


def test_a_definition_with_no_settled_units_has_no_projection(reader: Api) -> None:
    maturing(build.definition(survive_days=30), "payments", 2)
    [row] = rows(reader)
    assert row["awus_maturing"] == "2.000000"
    assert row["projected_awus"] is None
    assert row["settles_by"] == "2026-04-01"


def test_settled_groups_have_no_settle_date_and_nothing_maturing(reader: Api) -> None:
    version = build.definition(survive_days=30)
    history(version, "payments", stuck=4, voided=1)
    [row] = rows(reader, **{"from": "2026-01-01", "to": "2026-01-31"})
    assert row["awus_maturing"] == "0.000000"
    assert row["projected_awus"] == "0.000000"
    assert row["settles_by"] is None


def test_a_unit_waiting_for_a_requirement_is_pending_not_maturing(reader: Api) -> None:
    version = build.definition(
        survive_days=30, requires=[{"type": "deploy.succeeded", "within_days": 14}]
    )
    build.unit(version, state="pending", triggered_at=build.at(2))
    [row] = rows(reader)
    assert row["awus_pending"] == "1.000000"
    assert row["awus_maturing"] == "0.000000"
    # The latest it can complete: the requirement's 14 days, then 30 to survive.
    assert row["settles_by"] == str((build.at(2) + timedelta(days=44)).date())


def test_the_trend_says_which_weeks_are_not_final(reader: Api) -> None:
    version = build.definition(survive_days=30)
    history(version, "payments", stuck=4, voided=1)
    build.unit(version, team_=build.team("payments"), triggered_at=build.at(3))
    maturing(version, "payments", 2, day=11)
    weeks = {
        r["period"]: r for r in rows(reader, "/api/v1/reports/trend", interval="week", **MARCH)
    }
    assert weeks["2026-03-02"]["settles_by"] is None
    assert weeks["2026-03-09"]["settles_by"] == "2026-04-10"
    # 5 of 6 settled units stuck (January's and 3 March's): 2 x 5/6.
    assert weeks["2026-03-09"]["projected_awus"] == "1.666667"
    assert weeks["2026-03-16"]["settles_by"] is None  # nothing in it at all


def test_settled_only_ends_the_trend_at_the_last_settled_period(reader: Api) -> None:
    version = build.definition(survive_days=30)
    build.unit(version, triggered_at=build.at(3))
    maturing(version, "payments", 1, day=11)
    periods = [
        r["period"]
        for r in rows(
            reader, "/api/v1/reports/trend", interval="week", settled="only", **{"to": "2026-03-15"}
        )
    ]
    assert periods == ["2026-02-23", "2026-03-02"]


def test_the_trend_refuses_an_unknown_settled_value(reader: Api) -> None:
    response = reader.get(
        "/api/v1/reports/trend", {**MARCH, "interval": "week", "settled": "maybe"}
    )
    assert response.status_code == 400
    assert "settled" in response.json()["errors"]


def test_the_csv_carries_the_maturity_columns(reader: Api) -> None:
    version = build.definition(survive_days=30)
    maturing(version, "payments", 1)
    response = reader.get(URL, {**MARCH, "format": "csv"})
    [line] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert line["awus_maturing"] == "1.000000"
    assert line["projected_awus"] == ""
    assert line["settles_by"] == "2026-04-01"
    assert line["low_sample"] == "True"


def test_rollups_and_raw_facts_agree_on_maturity(reader: Api) -> None:
    version = build.definition(survive_days=30)
    history(version, "payments", stuck=4, voided=1)
    maturing(version, "payments", 3)
    rolled = rows(reader, group_by="team")
    raw = rows(reader, group_by="team", **{"to": "2026-03-31T00:00:00Z"})
    assert [r["awus_maturing"] for r in rolled] == [r["awus_maturing"] for r in raw]
    assert [r["settles_by"] for r in rolled] == [r["settles_by"] for r in raw]
    with override_settings(AWU_REPORTS_DURABILITY_LOOKBACK_DAYS=10):
        # No settled unit in the last ten days: no rate, no projection.
        assert rows(reader, group_by="team")[0]["projected_awus"] is None
