"""``GET /api/v1/reports/incidents``: incidents by attribution method, JSON and CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from awu.definitions.services import definitions_install_defaults
from awu.scoring import services
from ledger.ingest import events_ingest
from tests.e2e import stories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=60)
URL = "/api/v1/reports/incidents"


@pytest.fixture
def scored(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    definitions_install_defaults(now=START - timedelta(days=365))
    events = [
        *stories.durable_change("a", START, deploy_after=1, service="api"),
        *stories.durable_change("b", START, deploy_after=1, service="api"),
        *stories.incident("i1", START + timedelta(days=1, hours=3), service="api"),
        *stories.incident("i2", START + timedelta(days=1, hours=4), service=None),
    ]
    # a and b deploy separately at the same time: b's deploy is the latest (by id).
    events_ingest(items=events, now=NOW)
    services.outbox_drain(clock=lambda: NOW)


def test_rows_per_method_with_their_denominator(api: Any, scored: None) -> None:
    response = api("reports:read").get(URL, {"from": "2026-09-01", "to": "2026-11-30"})
    assert response.status_code == 200, response.content
    rows = {r["method"]: r for r in response.json()["results"]}
    assert list(rows) == ["explicit", "deploy-window", "unattributed"]
    assert rows["deploy-window"]["incidents"] == 1
    assert rows["deploy-window"]["attributions"] == 1
    assert rows["unattributed"]["incidents"] == 1
    assert rows["unattributed"]["share"] == 0.5
    assert rows["explicit"]["share"] == 0.0
    assert rows["explicit"]["denominators"] == {"incidents_opened": 2}


def test_an_empty_period_has_null_shares(api: Any, scored: None) -> None:
    rows = api("reports:read").get(URL, {"from": "2020-01-01", "to": "2020-01-31"}).json()
    assert {r["share"] for r in rows["results"]} == {None}


def test_csv_has_one_line_per_method(api: Any, scored: None) -> None:
    response = api("reports:read").get(URL, {"format": "csv"})
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("method,incidents,attributions")
    assert [line.split(",")[0] for line in lines[1:]] == [
        "explicit",
        "deploy-window",
        "unattributed",
    ]


def test_a_bad_period_is_a_400_naming_the_field(api: Any, scored: None) -> None:
    response = api("reports:read").get(URL, {"from": "yesterday"})
    assert response.status_code == 400
    assert "from" in response.json()["errors"]


def test_the_method_shows_on_the_work_units_evidence(api: Any, scored: None) -> None:
    units = api("reports:read").get("/api/v1/work-units", {"limit": 10}).json()["results"]
    blamed = [u for u in units if u["attributions"]]
    assert len(blamed) == 1
    assert blamed[0]["attributions"][0]["method"] == "deploy-window"
    assert blamed[0]["state"] == "voided"
    detail = api("reports:read").get(f"/api/v1/work-units/{blamed[0]['id']}").json()
    assert detail["attributions"] == blamed[0]["attributions"]
