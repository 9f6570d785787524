"""``manage.py seed_demo``: the demo company through the real ingest path, then the reports."""

from __future__ import annotations

import re
from collections.abc import Callable
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.test import Client

from awu.ops.management.commands.up import demo_wanted
from awu.scoring.models import WorkUnit
from integrations.models import DeadLetter
from ledger.models import ApiKey, Identity, Person, Source, Team, TokenUsage, WorkEvent
from tests.ledger.factories import NOW

SMALL = ("--people", "24", "--days", "45", "--seed", "7", "--workers", "1", "--no-progress")


def _seed(*extra: str) -> str:
    out = StringIO()
    call_command("seed_demo", *SMALL, *extra, stdout=out, stderr=StringIO())
    return out.getvalue()


def _not_otlp(model: Any) -> Any:
    """What the API batches and webhooks sent (an OTLP export answers no per-record status)."""
    return model.objects.exclude(source__kind="otlp")


@pytest.fixture
def pinned(settings: Any) -> None:
    settings.AWU_NOW = NOW


@pytest.mark.django_db
def test_seed_builds_the_organisation_and_sends_work_through_api_and_webhooks(
    pinned: None,
) -> None:
    _seed()

    assert Team.objects.count() == 8
    assert Person.objects.count() == 24
    assert Identity.objects.filter(value__startswith="github:").exists()
    vendor_kinds = set(
        Source.objects.filter(id__in=WorkEvent.objects.values("source_id").distinct()).values_list(
            "kind", flat=True
        )
    )
    assert vendor_kinds == {"api", "github", "pagerduty", "docusign", "hubspot", "zendesk", "otlp"}
    assert not DeadLetter.objects.exists()
    assert TokenUsage.objects.filter(cost_usd__isnull=True).count() == 0
    assert TokenUsage.objects.filter(attributes__derived_from="logs").exists()
    # The keys the seed used are revoked when it is done.
    assert ApiKey.objects.filter(name__in=["demo seed", "demo claude code"]).count() == 2
    assert not ApiKey.objects.filter(revoked_at__isnull=True).exists()


@pytest.mark.django_db
def test_reports_answer_differently_per_team_after_scoring(
    pinned: None, client: Client, make_key: Callable[..., str]
) -> None:
    _seed("--score")
    key = make_key("reports:read")

    response = client.get(
        "/api/v1/reports/efficiency",
        {"group_by": "team"},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert response.status_code == 200, response.content
    rows = {row["team"]: row for row in orjson.loads(response.content)["results"]}
    assert len(rows) == 8
    assert all(row["token_cost_usd"] not in (None, "0") for row in rows.values())
    per_dollar = {row["awus_per_dollar"] for row in rows.values()}
    assert len(per_dollar) >= 6
    completed = {team for team, row in rows.items() if float(row["awus_completed"]) > 0}
    assert {"legal", "support", "sales-emea"} <= completed
    assert WorkUnit.objects.filter(state=WorkUnit.State.VOIDED).exists()


@pytest.mark.django_db
def test_second_run_stores_nothing_new_and_is_answered_duplicate(pinned: None) -> None:
    first = _seed()
    events, usage = WorkEvent.objects.count(), TokenUsage.objects.count()
    people, identities = Person.objects.count(), Identity.objects.count()
    sent_events, sent_usage = _not_otlp(WorkEvent).count(), _not_otlp(TokenUsage).count()
    log_records = re.search(r"log record accepted (\d+),", first)
    assert log_records, first

    output = _seed()

    assert (WorkEvent.objects.count(), TokenUsage.objects.count()) == (events, usage)
    assert (Person.objects.count(), Identity.objects.count()) == (people, identities)
    # Both runs' Claude Code exports went to the fleet's one source.
    assert Source.objects.filter(kind="otlp").count() == 1
    assert "event created 0," in output
    assert "usage created 0," in output
    assert f"event duplicate {sent_events}," in output
    assert f"usage duplicate {sent_usage}," in output
    # An export answers only what it rejected: the retried records are accepted.
    assert f"log record accepted {log_records.group(1)}," in output
    assert "rejected" not in output


def test_up_seeds_the_demo_into_an_empty_ledger_unless_told_not_to() -> None:
    assert demo_wanted(force=False, skip=False, environ={}, ledger_empty=True)
    assert not demo_wanted(force=False, skip=False, environ={}, ledger_empty=False)
    assert not demo_wanted(force=False, skip=True, environ={}, ledger_empty=True)
    assert not demo_wanted(force=False, skip=False, environ={"AWU_DEMO": "0"}, ledger_empty=True)
    assert demo_wanted(force=True, skip=False, environ={"AWU_DEMO": "0"}, ledger_empty=False)
    # A database named by DATABASE_URL is a real ledger: the demo only when asked for.
    external = {"DATABASE_URL": "postgres://awu@db:5432/awu"}
    assert not demo_wanted(force=False, skip=False, environ=external, ledger_empty=True)
    assert demo_wanted(
        force=False, skip=False, environ={**external, "AWU_DEMO": "1"}, ledger_empty=True
    )


@pytest.mark.django_db(transaction=True)
def test_deliveries_sent_from_several_threads_are_all_stored(pinned: None) -> None:
    out = StringIO()
    call_command(
        "seed_demo",
        *("--people", "16", "--days", "21", "--workers", "3", "--no-progress"),
        stdout=out,
        stderr=StringIO(),
    )

    created = re.search(r"event created (\d+),", out.getvalue())
    assert created, out.getvalue()
    assert _not_otlp(WorkEvent).count() == int(created.group(1))
    assert "refused" not in out.getvalue()
    kinds = set(
        Source.objects.filter(id__in=WorkEvent.objects.values("source_id").distinct()).values_list(
            "kind", flat=True
        )
    )
    assert {"github", "pagerduty", "docusign", "zendesk"} <= kinds
