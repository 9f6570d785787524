"""``awu report efficiency``: the API's report, parsed and checked as the API does."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.awu.reports import build
from tests.cli.conftest import Ran, assert_one_line_error
from tests.conftest import Api

URL = "/api/v1/reports/efficiency"
MARCH = ("--from", "2026-03-01", "--to", "2026-03-31")


@pytest.fixture
def ledger(db: None) -> None:
    """Payments: 3 AWUs for $6; platform: 1 AWU for $4."""
    version = build.definition()
    alice = build.person("alice", team_slug="payments")
    bob = build.person("bob", team_slug="platform")
    build.unit(version, owner=alice, team_=build.team("payments"), units="3")
    build.unit(version, owner=bob, team_=build.team("platform"), units="1")
    build.usage(actor="alice@example.com", cost="6.00")
    build.usage(actor="bob@example.com", cost="4.00")


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


def test_table_has_a_row_per_group_with_awus_per_dollar(
    awu: Callable[..., Ran], ledger: None
) -> None:
    ran = awu("report", "efficiency", *MARCH, "--group-by", "team")

    assert ran.code == 0, ran.err
    header, *lines = ran.out.splitlines()
    columns = header.split()
    assert columns[0] == "team"
    rows = {line.split()[0]: dict(zip(columns, line.split(), strict=True)) for line in lines}
    assert set(rows) == {"payments", "platform"}
    assert rows["payments"]["awus_completed"] == "3.000000"
    assert rows["payments"]["awus_per_dollar"] == "0.5"
    assert rows["platform"]["cost_per_awu"] == "4.000000000"


def test_csv_is_the_apis_csv(awu: Callable[..., Ran], ledger: None, reader: Api) -> None:
    ran = awu("report", "efficiency", *MARCH, "--group-by", "team", "--format", "csv")

    assert ran.code == 0, ran.err
    from_api = reader.get(
        URL, {"from": "2026-03-01", "to": "2026-03-31", "group_by": "team", "format": "csv"}
    )
    assert ran.out == from_api.content.decode()
    rows = {r["team"]: r for r in csv.DictReader(io.StringIO(ran.out))}
    assert rows["payments"]["awus_per_dollar"] == "0.5"
    assert rows["platform"]["token_cost_usd"] == "4.000000000"


def test_json_has_the_apis_rows(awu: Callable[..., Ran], ledger: None, reader: Api) -> None:
    ran = awu("report", "efficiency", *MARCH, "--group-by", "team,domain", "--format", "json")

    assert ran.code == 0, ran.err
    body: dict[str, Any] = orjson.loads(ran.out)
    from_api = reader.get(
        URL, {"from": "2026-03-01", "to": "2026-03-31", "group_by": "team,domain"}
    ).json()
    assert body["results"] == from_api["results"]
    assert body["group_by"] == ["team", "domain"]


def test_filters_are_the_apis(awu: Callable[..., Ran], ledger: None) -> None:
    ran = awu("report", "efficiency", *MARCH, "--team", "platform", "--format", "json")
    [row] = orjson.loads(ran.out)["results"]
    assert row["awus_completed"] == "1.000000"
    assert row["token_cost_usd"] == "4.000000000"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--from", "2026-13-01"), "--from: give a date"),
        (("--from", "2026-03-31", "--to", "2026-03-01"), "--to: must be after from"),
        (("--group-by", "teams"), "--group-by: one of team"),
        (("--group-by", "week"), "--from: grouping by week or month needs both"),
        (("--person", "alice"), "--person: not a person id"),
        (("--basis", "finished"), "--basis: one of triggered, completed"),
        (("--format", "xml"), "--format"),
        (("--colour",), "unrecognized arguments: --colour"),
    ],
)
def test_bad_input_is_one_line_and_a_usage_error(
    awu: Callable[..., Ran], argv: tuple[str, ...], needle: str
) -> None:
    ran = awu("report", "efficiency", *argv)
    assert_one_line_error(ran, 2, needle)
    assert ran.out == ""
