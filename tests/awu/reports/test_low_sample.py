"""low_sample: a group too small to rank is marked, with a configurable threshold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01", "to": "2026-03-31", "group_by": "team"}


def by_team(api: Callable[..., Api]) -> dict[Any, dict[str, Any]]:
    response = api("reports:read").get("/api/v1/reports/efficiency", MARCH)
    return {r["team"]: r for r in response.json()["results"]}


def test_one_contract_on_cents_of_spend_is_low_sample(api: Callable[..., Api]) -> None:
    version = build.definition()
    payments = build.team("payments")
    build.person("alice", team_slug="payments")
    for _ in range(6):
        build.unit(version, team_=payments)
    build.usage(actor="alice@example.com", cost="60.00")
    build.unit(version)  # no team
    build.usage(actor="nobody@example.com", cost="0.48")
    rows = by_team(api)
    assert rows[None]["low_sample"] is True
    assert rows["payments"]["low_sample"] is False


def test_the_thresholds_are_settings(api: Callable[..., Api], settings: Any) -> None:
    settings.AWU_REPORTS_LOW_SAMPLE_UNITS = 1
    settings.AWU_REPORTS_LOW_SAMPLE_USD = 0.1
    build.unit(build.definition())
    build.usage(actor="nobody@example.com", cost="0.48")
    assert by_team(api)[None]["low_sample"] is False
