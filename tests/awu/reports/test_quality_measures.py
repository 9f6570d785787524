"""Quality beside the count: incidents, bugs and review hours per completed unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from awu.reports.measures import rows_from_sides, sides_for
from awu.reports.query import ReportQuery
from awu.reports.rollups import rollups_refresh
from awu.reports.selectors import efficiency_report
from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/efficiency"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
MARCH_QUERY = ReportQuery(
    start=datetime(2026, 3, 1, tzinfo=UTC), stop=datetime(2026, 4, 1, tzinfo=UTC)
)


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


def report(reader: Api, **params: Any) -> list[dict[str, Any]]:
    response = reader.get(URL, {**MARCH, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def change(n: int, *, ai: bool | None = None, state: str = "completed") -> None:
    build.unit(
        build.definition(),
        refs={"pr": [f"acme/api#{n}"], "commit": [f"c{n}"]},
        ai_assisted=ai,
        state=state,
    )


def review(n: int, *, requested_day: int, approved_day: int, hour: int = 12) -> None:
    pr = {"pr": [f"acme/api#{n}"]}
    build.event("code.review.requested", refs=pr, occurred_at=build.at(requested_day, 9))
    build.event(
        "code.review.submitted",
        refs=pr,
        occurred_at=build.at(approved_day, hour),
        attributes={"reviewer": "octocat", "state": "approved"},
    )


def test_each_measure_is_its_numerator_over_completed_units_split_by_ai(reader: Api) -> None:
    change(1, ai=True)
    change(2, ai=True)
    change(3)
    change(4, state="voided")  # not completed: counts in no measure
    build.event("incident.attributed", refs={"incident": ["P1"], "commit": ["c1"]})
    build.event("incident.attributed", refs={"incident": ["P1"], "pr": ["acme/api#1"]})  # same
    build.event("incident.attributed", refs={"incident": ["P4"], "commit": ["c4"]})
    build.event("issue.bug_reported", refs={"issue": ["github:acme/api#9"], "pr": ["acme/api#3"]})
    review(1, requested_day=2, approved_day=3)  # 27 hours
    review(3, requested_day=2, approved_day=2, hour=15)  # 6 hours

    [row] = report(reader)

    assert row["incidents_per_completed_unit"] == pytest.approx(1 / 3, abs=1e-6)
    assert row["incidents_per_completed_unit_ai"] == 0.5
    assert row["incidents_per_completed_unit_other"] == 0.0
    assert row["bugs_per_completed_unit"] == pytest.approx(1 / 3, abs=1e-6)
    assert (row["bugs_per_completed_unit_ai"], row["bugs_per_completed_unit_other"]) == (0.0, 1.0)
    assert row["review_hours_per_completed_unit"] == 11.0
    assert row["review_hours_per_completed_unit_ai"] == 13.5
    assert row["review_hours_per_completed_unit_other"] == 6.0
    assert row["quality_numerators"] == {
        "incidents": 1, "incidents_ai": 1, "incidents_other": 0,
        "bugs": 1, "bugs_ai": 0, "bugs_other": 1,
        "review_hours": "33.000000", "review_hours_ai": "27.000000", "review_hours_other": "6.000000",
    }  # fmt: skip
    denominators = row["denominators"]
    assert (
        denominators["completed_units"],
        denominators["completed_units_ai"],
        denominators["completed_units_other"],
    ) == (3, 2, 1)


def test_measures_are_null_where_their_denominator_is_empty(reader: Api) -> None:
    change(1)
    [row] = report(reader)
    assert row["incidents_per_completed_unit"] == 0.0
    assert row["incidents_per_completed_unit_ai"] is None
    assert row["review_hours_per_completed_unit_ai"] is None
    assert row["bugs_per_completed_unit_other"] == 0.0
    [empty] = report(reader, **{"from": "2026-05-01", "to": "2026-05-31"})
    assert empty["incidents_per_completed_unit"] is None


def test_spend_only_rows_have_no_quality_measures(reader: Api) -> None:
    change(1)
    build.usage()
    [row] = report(reader, group_by="model")
    assert row["bugs_per_completed_unit"] is None
    assert row["quality_numerators"] is None


def test_an_approval_before_any_request_adds_no_review_time(reader: Api) -> None:
    change(1)
    pr = {"pr": ["acme/api#1"]}
    build.event(
        "code.review.submitted",
        refs=pr,
        occurred_at=build.at(2, 8),
        attributes={"reviewer": "octocat", "state": "approved"},
    )
    build.event("code.review.requested", refs=pr, occurred_at=build.at(2, 9))
    [row] = report(reader)
    assert row["quality_numerators"]["review_hours"] == "0.000000"


def test_review_and_bug_events_count_whichever_arrives_first() -> None:
    # Before the change is in the ledger: kept, and used when it arrives.
    review(1, requested_day=2, approved_day=3)
    rollups_refresh()
    change(1, ai=True)
    rollups_refresh()
    # After the unit's facts were rolled up: the next refresh takes it in.
    build.event("issue.bug_reported", refs={"issue": ["github:acme/api#9"], "commit": ["c1"]})
    build.event("incident.attributed", refs={"incident": ["P1"], "commit": ["c1"]})
    rollups_refresh()

    [row] = efficiency_report(query=MARCH_QUERY)
    assert row["quality_numerators"]["review_hours_ai"] == "27.000000"
    assert (row["quality_numerators"]["bugs"], row["quality_numerators"]["incidents"]) == (1, 1)
    for query in [MARCH_QUERY, replace(MARCH_QUERY, group_by=("team", "month"))]:
        raw = rows_from_sides(query, sides_for(query, raw=True))
        assert rows_from_sides(query, sides_for(query, raw=False, periods=False)) == raw
        assert rows_from_sides(query, sides_for(query, raw=False, periods=True)) == raw


def test_csv_carries_every_measure_with_its_numerators_and_denominators(reader: Api) -> None:
    change(1, ai=True)
    response = reader.get(URL, {**MARCH, "format": "csv"})
    header = response.content.decode().splitlines()[0].split(",")
    for name in (
        "incidents_per_completed_unit",
        "bugs_per_completed_unit_ai",
        "review_hours_per_completed_unit_other",
        "quality_numerators_review_hours_ai",
        "denominators_completed_units_other",
    ):
        assert name in header
