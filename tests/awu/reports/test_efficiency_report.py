"""GET /api/v1/reports/efficiency: the measures, their null rules, groupings, basis, as_of."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from awu.reports.rollups import rollups_refresh
from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/efficiency"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


def report(reader: Api, **params: Any) -> list[dict[str, Any]]:
    response = reader.get(URL, {**MARCH, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_awus_per_dollar_is_completed_awus_over_spend(reader: Api) -> None:
    alice = build.person("alice", team_slug="payments")
    version = build.definition()
    build.unit(version, owner=alice, team_=build.team("payments"), units="3")
    build.usage(actor="alice@example.com", cost="6.00")
    [row] = report(reader)
    assert row["awus_completed"] == "3.000000"
    assert row["token_cost_usd"] == "6.000000000"
    assert row["awus_per_dollar"] == 0.5
    assert row["cost_per_awu"] == "2.000000000"


def test_spend_without_awus_is_zero_awus_per_dollar(reader: Api) -> None:
    build.usage(actor="bob@example.com", cost="4.00")
    [row] = report(reader)
    assert row["awus_per_dollar"] == 0.0
    assert row["cost_per_awu"] is None


def test_awus_without_spend_cost_nothing_each_and_have_no_rate(reader: Api) -> None:
    build.unit(build.definition(), units="2")
    [row] = report(reader)
    assert row["cost_per_awu"] == "0.000000000"
    assert row["awus_per_dollar"] is None


def test_an_empty_ledger_reports_one_row_of_null_ratios(reader: Api) -> None:
    [row] = report(reader)
    assert row["units"] == 0
    assert row["durability"] is None
    assert row["awus_per_dollar"] is None
    assert row["ai_assisted_share"] is None


def test_durability_is_completed_over_completed_plus_voided(reader: Api) -> None:
    version = build.definition()
    build.unit(version, units="3")
    build.unit(version, state="voided", units="1", reason="code.reverted")
    [row] = report(reader)
    assert row["awus_voided"] == "1.000000"
    assert row["durability"] == 0.75


def test_pending_and_expired_units_are_counted_apart(reader: Api) -> None:
    version = build.definition()
    build.unit(version, state="pending", units="2")
    build.unit(version, state="expired", units="5", reason="deploy.succeeded never came")
    [row] = report(reader)
    assert (row["awus_pending"], row["awus_expired"], row["units"]) == ("2.000000", "5.000000", 2)
    assert row["awus_completed"] == "0.000000"


def test_ai_assisted_share_is_of_completed_units(reader: Api) -> None:
    version = build.definition()
    build.unit(version, ai_assisted=True)
    build.unit(version, ai_assisted=False)
    build.unit(version, ai_assisted=None)
    build.unit(version, state="pending", ai_assisted=True)
    [row] = report(reader)
    assert row["ai_assisted_share"] == pytest.approx(1 / 3, abs=1e-6)


def test_group_by_team_resolves_usage_through_identity_and_membership(reader: Api) -> None:
    alice = build.person("alice", team_slug="payments")
    build.person("bob", team_slug="search")
    version = build.definition()
    build.unit(version, owner=alice, team_=build.team("payments"), units="2")
    build.usage(actor="alice@example.com", cost="1.00")
    build.usage(actor="bob@example.com", cost="3.00")
    rows = {r["team"]: r for r in report(reader, group_by="team")}
    assert rows["payments"]["token_cost_usd"] == "1.000000000"
    assert rows["payments"]["awus_per_dollar"] == 2.0
    assert rows["search"]["token_cost_usd"] == "3.000000000"
    assert rows["search"]["awus_completed"] == "0.000000"


def test_a_team_named_on_the_usage_record_wins_over_membership(reader: Api) -> None:
    build.person("alice", team_slug="payments")
    build.team("platform")
    build.usage(actor="alice@example.com", cost="1.00", team_slug="platform")
    [row] = report(reader, group_by="team")
    assert row["team"] == "platform"


def test_group_by_team_and_month_gives_one_row_per_pair(reader: Api) -> None:
    build.person("alice", team_slug="payments")
    build.usage(actor="alice@example.com", cost="1.00", occurred_at=build.at(5))
    rows = report(reader, group_by="team,month", **{"from": "2026-01-01"})
    assert [(r["team"], r["period"]) for r in rows] == [("payments", "2026-03-01")]


def test_model_rows_carry_spend_and_null_awus(reader: Api) -> None:
    build.unit(build.definition(), units="1")
    build.usage(cost="1.00", model="claude-opus-4-5")
    build.usage(cost="2.00", model="claude-sonnet-4-5")
    rows = {r["model"]: r for r in report(reader, group_by="model")}
    assert rows["claude-sonnet-4-5"]["token_cost_usd"] == "2.000000000"
    assert rows["claude-sonnet-4-5"]["awus_completed"] is None
    assert rows["claude-sonnet-4-5"]["awus_per_dollar"] is None


def test_definition_rows_carry_awus_and_null_spend(reader: Api) -> None:
    build.unit(build.definition("shipped"), units="1")
    build.usage(cost="1.00")
    [row] = report(reader, group_by="definition")
    assert row["definition"] == "shipped"
    assert row["token_cost_usd"] is None
    assert row["awus_completed"] == "1.000000"


def test_basis_completed_places_units_by_completion_time(reader: Api) -> None:
    version = build.definition()
    build.unit(version, triggered_at=build.at(28), completed_at=build.at(28).replace(month=4))
    triggered = report(reader)[0]
    completed = report(reader, basis="completed")[0]
    assert triggered["awus_completed"] == "1.000000"
    assert completed["awus_completed"] == "0.000000"


def test_as_of_leaves_out_entries_credited_later(reader: Api) -> None:
    version = build.definition()
    build.unit(version, triggered_at=build.at(2), created_at=build.at(2))
    build.unit(version, triggered_at=build.at(3), created_at=build.at(20))
    row = report(reader, as_of="2026-03-10")[0]
    assert row["awus_completed"] == "1.000000"


def test_superseded_units_are_not_reported(reader: Api) -> None:
    version = build.definition()
    old = build.unit(version, units="4")
    old.superseded_at = build.at(10)
    old.save(update_fields=["superseded_at"])
    [row] = report(reader)
    assert row["units"] == 0
    assert row["awus_completed"] == "0.000000"


def test_metrics_usage_covered_by_logs_of_the_same_session_is_not_spend(reader: Api) -> None:
    session = {"session": ["cc-1"]}
    build.usage(cost="2.00", refs=session, attributes={"derived_from": "logs"})
    build.usage(cost="2.00", refs=session, attributes={"derived_from": "metrics"})
    [row] = report(reader)
    assert row["token_cost_usd"] == "2.000000000"
    assert row["denominators"]["usage_records"] == 1


def test_unpriced_usage_is_counted_in_the_denominators(reader: Api) -> None:
    build.usage(cost=None)
    [row] = report(reader)
    assert row["denominators"]["unpriced_records"] == 1


# The same answer from the rollups and from the raw tables (``as_of`` reads the raw).
PATHS = pytest.mark.parametrize("path", [{}, {"as_of": "2030-01-01"}], ids=["rollups", "raw"])


@PATHS
def test_a_model_missing_from_the_price_book_has_an_unknown_cost_not_zero(
    reader: Api, path: dict[str, str]
) -> None:
    build.usage(cost="2.00", model="claude-opus-4-5")
    build.usage(cost=None, model="unlisted-model")
    build.usage(cost=None, model="unlisted-model")
    rows = {r["model"]: r for r in report(reader, group_by="model", **path)}
    unknown = rows["unlisted-model"]
    assert unknown["token_cost_usd"] is None
    assert (unknown["awus_per_dollar"], unknown["cost_per_awu"]) == (None, None)
    assert unknown["spend_tied_usd"]["none"] is None
    assert unknown["denominators"]["usage_records"] == 2
    assert unknown["denominators"]["unpriced_records"] == 2
    assert unknown["tokens"]["input_tokens"] == 200  # the tokens are known
    assert rows["claude-opus-4-5"]["token_cost_usd"] == "2.000000000"
    assert rows["claude-opus-4-5"]["denominators"]["unpriced_records"] == 0


@PATHS
def test_a_team_whose_spend_is_all_unpriced_has_no_cost_and_no_ratios(
    reader: Api, path: dict[str, str]
) -> None:
    alice = build.person("alice", team_slug="payments")
    build.unit(build.definition(), owner=alice, team_=build.team("payments"), units="2")
    build.usage(actor="alice@example.com", cost=None)
    [row] = report(reader, group_by="team", **path)
    assert row["awus_completed"] == "2.000000"
    assert row["token_cost_usd"] is None
    assert row["cost_per_awu"] is None  # not $0 per AWU
    assert row["awus_per_dollar"] is None
    assert row["denominators"]["unpriced_records"] == 1


@PATHS
def test_a_team_partly_unpriced_shows_its_priced_cost_and_counts_the_rest(
    reader: Api, path: dict[str, str]
) -> None:
    alice = build.person("alice", team_slug="payments")
    build.unit(build.definition(), owner=alice, team_=build.team("payments"), units="3")
    build.usage(actor="alice@example.com", cost="6.00")
    build.usage(actor="alice@example.com", cost=None, model="unlisted-model")
    [row] = report(reader, group_by="team", **path)
    assert row["token_cost_usd"] == "6.000000000"
    assert row["awus_per_dollar"] == 0.5
    assert row["cost_per_awu"] == "2.000000000"
    assert (row["denominators"]["usage_records"], row["denominators"]["unpriced_records"]) == (2, 1)


def test_csv_leaves_an_unknown_cost_empty_and_counts_the_unpriced(reader: Api) -> None:
    build.usage(cost=None, model="unlisted-model")
    response = reader.get(URL, {**MARCH, "group_by": "model", "format": "csv"})
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert (row["model"], row["token_cost_usd"]) == ("unlisted-model", "")
    assert row["denominators_unpriced_records"] == "1"


def test_spend_tied_to_a_completed_unit_through_a_session_commit(reader: Api) -> None:
    build.unit(build.definition(), refs={"pr": ["acme/api#1"], "commit": ["abc"]})
    build.event("x.session.commit", refs={"session": ["s1"], "commit": ["abc"]})
    build.usage(cost="3.00", refs={"session": ["s1"]})
    build.usage(cost="1.00")
    [row] = report(reader)
    assert row["spend_tied_usd"]["completed"] == "3.000000000"
    assert row["spend_tied_share"]["none"] == 0.25


def test_filter_by_ai_applies_to_units_and_nulls_spend(reader: Api) -> None:
    version = build.definition()
    build.unit(version, ai_assisted=True, units="2")
    build.unit(version, ai_assisted=False, units="5")
    build.usage(cost="1.00")
    [row] = report(reader, ai="assisted")
    assert row["awus_completed"] == "2.000000"
    assert row["token_cost_usd"] is None


def test_reports_need_the_reports_read_scope(api: Callable[..., Api]) -> None:
    assert api("events:write").get(URL, MARCH).status_code == 403
    assert api().get(URL, MARCH).status_code == 401


def test_unknown_group_by_is_a_400_naming_the_field(reader: Api) -> None:
    response = reader.get(URL, {"group_by": "colour"})
    assert response.status_code == 400
    assert "group_by" in response.json()["errors"]


def test_csv_on_request_has_one_line_per_row(reader: Api) -> None:
    build.person("alice", team_slug="payments")
    build.usage(actor="alice@example.com", cost="1.00")
    response = reader.get(URL, {**MARCH, "group_by": "team", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("team,awus_completed")
    assert lines[1].startswith("payments,")


def test_csv_by_accept_header(reader: Api) -> None:
    response = reader.get(URL, MARCH, HTTP_ACCEPT="text/csv")
    assert response["Content-Type"].startswith("text/csv")


def test_rollups_and_raw_answer_the_same(reader: Api) -> None:
    build.person("alice", team_slug="payments")
    build.unit(build.definition(), units="2")
    build.usage(actor="alice@example.com", cost="1.50")
    rollups_refresh()
    from_rollups = reader.get(URL, {**MARCH, "group_by": "team"}).json()
    from_raw = reader.get(URL, {**MARCH, "group_by": "team", "as_of": "2030-01-01"}).json()
    assert from_rollups["source"] == "rollups"
    assert from_raw["source"] == "raw"
    assert from_rollups["results"] == from_raw["results"]
    assert Decimal(from_rollups["results"][0]["token_cost_usd"]) == Decimal("1.5")


def test_an_unknown_format_is_refused_naming_json_and_csv(reader: Api) -> None:
    response = reader.get(URL, {**MARCH, "format": "xlsx"})

    assert response.status_code == 400
    assert response.json()["errors"] == {"format": ["one of json, csv"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"from": "2022-01-01", "to": "2026-03-01"}, "to"),
        ({"from": "2099-01-01", "to": "2099-01-02"}, "from"),
    ],
    ids=["from-after-to", "over-three-years", "from-in-the-future"],
)
def test_a_bad_range_is_refused_naming_the_field(
    reader: Api, params: dict[str, str], field: str
) -> None:
    for url in (URL, "/api/v1/reports/trend"):
        response = reader.get(url, params)
        assert response.status_code == 400, response.content
        assert field in response.json()["errors"]
