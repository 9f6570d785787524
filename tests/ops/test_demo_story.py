"""What the demo company shows once seeded and scored, read from the report API.

The README and docs/demo.md describe the demo's numbers; these tests hold them to
it on a smaller company of the same generator (seeded once for the module: a
seed and a scoring pass take a while).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from awu.scoring.models import WorkUnit
from ledger.models import WorkEvent
from tests.conftest import forget_process_caches
from tests.ledger.factories import NOW

# Large enough for five engineers per spend decile and for units that completed.
MEDIUM = ("--people", "100", "--days", "45", "--seed", "7", "--workers", "4", "--no-progress")
ENGINEERING = ("platform", "payments", "mobile")


@pytest.fixture(scope="module")
def demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    # Module fixtures run before the per-test cache reset: start from none, so
    # no id remembered from an earlier test's rolled-back rows is used here.
    forget_process_caches()
    with django_db_blocker.unblock(), override_settings(AWU_NOW=NOW):
        try:
            call_command("seed_demo", *MEDIUM, "--score", stdout=StringIO(), stderr=StringIO())
            yield
        finally:
            call_command("flush", interactive=False, verbosity=0)
            forget_process_caches()


@pytest.fixture
def report(
    demo: None, settings: Any, client: Client, make_key: Callable[..., str]
) -> Callable[..., Any]:
    """report(path, **params) -> the JSON answer of a report endpoint."""
    settings.AWU_NOW = NOW
    key = make_key("reports:read")

    def get(path: str, **params: str) -> Any:
        response = client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, response.content
        return orjson.loads(response.content)

    return get


@pytest.mark.django_db
def test_engineering_spend_is_tied_to_completed_units_in_part_and_untied_in_part(
    report: Callable[..., Any],
) -> None:
    rows = report("/api/v1/reports/efficiency", group_by="domain")["results"]

    tied = {row["domain"]: row["spend_tied_usd"] for row in rows}
    assert float(tied["engineering"]["completed"]) > 0
    assert float(tied["engineering"]["none"]) > 0
    # About half of engineering's spend reaches a unit.
    shares = {row["domain"]: row["spend_tied_share"] for row in rows}
    assert 0.3 < shares["engineering"]["none"] < 0.6
    # Only engineers work in Claude Code: no other domain's spend reaches a unit.
    assert all(share["none"] == 1 for d, share in shares.items() if d != "engineering")


@pytest.mark.django_db
def test_a_completed_unit_shows_the_spend_of_the_session_that_made_its_head_commit(
    report: Callable[..., Any],
) -> None:
    commits = [
        f"commit:{sha}"
        for refs in WorkEvent.objects.filter(type="x.session.commit").values_list("refs", flat=True)
        for sha in refs["commit"]
    ]
    unit = WorkUnit.objects.filter(
        state=WorkUnit.State.COMPLETED, ref_keys__overlap=commits
    ).first()
    assert unit is not None

    detail = report(f"/api/v1/work-units/{unit.pk}")

    assert detail["spend_tied"]["method"] == "exact"
    assert float(detail["spend_tied"]["token_cost_usd"]) > 0
    assert detail["spend_tied"]["usage_records"] > 0


@pytest.mark.django_db
def test_engineering_top_spend_decile_spends_ten_times_the_middle_for_about_twice_the_awus(
    report: Callable[..., Any],
) -> None:
    rows = report("/api/v1/reports/spend-deciles", domain="engineering")["results"]

    deciles = {row["decile"]: row for row in rows}
    top, middle = deciles[10], deciles[5]
    assert top["people"] == middle["people"] >= 5
    assert float(top["token_cost_usd"]) > 10 * float(middle["token_cost_usd"])
    assert 1.5 < float(top["awus_completed"]) / float(middle["awus_completed"]) < 2.5
    # So the top decile's AWUs per dollar are a small fraction of the bottom half's.
    bottom = [deciles[d] for d in range(1, 6)]
    bottom_per_dollar = sum(float(r["awus_completed"]) for r in bottom) / sum(
        float(r["token_cost_usd"]) for r in bottom
    )
    assert top["awus_per_dollar"] < bottom_per_dollar / 5


@pytest.mark.django_db
def test_among_engineering_teams_the_one_in_the_middle_of_adoption_gets_the_most_awus_per_dollar(
    report: Callable[..., Any],
) -> None:
    rows = report("/api/v1/reports/efficiency", group_by="team", domain="engineering")["results"]

    per_dollar = {row["team"]: row["awus_per_dollar"] for row in rows}
    assert set(per_dollar) == set(ENGINEERING)
    assert max(per_dollar, key=per_dollar.__getitem__) == "payments"
