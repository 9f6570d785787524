"""GET /api/v1/reports/spend-deciles and /api/v1/reports/trend."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


def _people(count: int) -> None:
    version = build.definition()
    for i in range(count):
        p = build.person(f"p{i}", team_slug="payments")
        build.usage(actor=p.email, cost=f"{i + 1}.00")
        build.unit(version, owner=p, team_=build.team("payments"))


def test_deciles_rank_people_by_spend_with_the_biggest_spenders_last(reader: Api) -> None:
    _people(20)
    rows = reader.get("/api/v1/reports/spend-deciles", MARCH).json()["results"]
    assert [r["people"] for r in rows] == [2] * 10
    assert rows[0]["token_cost_usd"] == "3.000000000"
    assert rows[9]["token_cost_usd"] == "39.000000000"
    assert rows[9]["median_cost_per_awu"] == "19.500000000"


def test_deciles_by_team_rank_within_each_team(reader: Api) -> None:
    _people(3)
    rows = reader.get("/api/v1/reports/spend-deciles", {**MARCH, "by": "team"}).json()["results"]
    assert {r["team"] for r in rows} == {"payments"}
    assert sum(r["people"] for r in rows) == 3


def test_a_person_whose_spend_is_all_unpriced_has_an_unknown_spend_not_zero(reader: Api) -> None:
    ann = build.person("ann", team_slug="payments")
    build.unit(build.definition(), owner=ann, team_=build.team("payments"), units="2")
    build.usage(actor=ann.email, cost=None, model="unlisted-model")
    [row] = [
        r
        for r in reader.get("/api/v1/reports/spend-deciles", MARCH).json()["results"]
        if r["people"]
    ]
    assert (row["people"], row["awus_completed"]) == (1, "2.000000")
    assert row["token_cost_usd"] is None
    assert (row["awus_per_dollar"], row["median_cost_per_awu"]) == (None, None)
    assert (row["min_person_cost_usd"], row["max_person_cost_usd"]) == (None, None)
    assert row["unpriced_records"] == 1


def test_a_decile_partly_unpriced_shows_its_priced_spend_and_counts_the_rest(reader: Api) -> None:
    ann = build.person("ann", team_slug="payments")
    build.unit(build.definition(), owner=ann, team_=build.team("payments"), units="2")
    build.usage(actor=ann.email, cost="4.00")
    build.usage(actor=ann.email, cost=None, model="unlisted-model")
    rows = reader.get("/api/v1/reports/spend-deciles", MARCH).json()["results"]
    [row] = [r for r in rows if r["people"]]
    assert row["token_cost_usd"] == "4.000000000"
    assert row["median_cost_per_awu"] == "2.000000000"
    assert row["unpriced_records"] == 1
    assert all(r["unpriced_records"] == 0 for r in rows if not r["people"])


def test_a_trend_period_with_only_unpriced_spend_has_an_unknown_cost(reader: Api) -> None:
    build.usage(cost=None, model="unlisted-model")
    rows = reader.get(
        "/api/v1/reports/trend", {"from": "2026-02-01", "to": "2026-03-31", "interval": "month"}
    ).json()["results"]
    february, march = rows
    assert (february["token_cost_usd"], february["denominators"]["unpriced_records"]) == (
        "0.000000000",
        0,
    )
    assert (march["token_cost_usd"], march["denominators"]["unpriced_records"]) == (None, 1)


def test_trend_has_a_row_for_every_month_even_empty_ones(reader: Api) -> None:
    build.usage(cost="1.00")
    body = reader.get(
        "/api/v1/reports/trend", {"from": "2026-01-01", "to": "2026-04-30", "interval": "month"}
    ).json()
    periods = [r["period"] for r in body["results"]]
    assert periods == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
    assert body["results"][2]["token_cost_usd"] == "1.000000000"
    assert body["results"][0]["awus_per_dollar"] is None


def test_trend_needs_a_period(reader: Api) -> None:
    assert reader.get("/api/v1/reports/trend").status_code == 400
