"""Deploy-window attribution through the scoring pipeline: any arrival order, one
final state; service name mappings; what the unit and the reports show."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from awu.definitions.services import definitions_install_defaults
from awu.reports.incidents import incidents_by_method, unattributed_incidents
from awu.scoring import services
from awu.scoring.models import WorkUnit
from ledger.ingest import events_ingest
from ledger.models import EventOutbox, Source, WorkEvent
from ledger.service_names import service_name_create
from tests.e2e import stories
from tests.e2e.checks import assert_matches_engine

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=60)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _defaults(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    definitions_install_defaults(now=START - timedelta(days=365))


def ingest(events: list[dict[str, Any]]) -> None:
    results = events_ingest(items=events, now=NOW)
    assert {r.status for r in results} <= {"created", "duplicate"}, results


def drain() -> None:
    services.outbox_drain(clock=lambda: NOW, batch_size=1000)


def unit(tag: str) -> WorkUnit:
    trigger = WorkEvent.objects.get(external_id=f"{tag}-merged")
    return WorkUnit.objects.get(trigger_event_id=trigger.pk, superseded_at__isnull=True)


def story() -> list[dict[str, Any]]:
    """Two changes deployed to api 6 hours apart (a at +1d, b at +1d6h), an incident
    on api 6 hours after b's deploy, and one on no service at all."""
    return [
        *stories.durable_change("a", START, deploy_after=1, service="api"),
        *stories.durable_change("b", START, deploy_after=1.25, service="api"),
        *stories.incident("i1", START + timedelta(days=1, hours=12), service="api"),
        *stories.incident("i2", START + timedelta(days=1, hours=13), service=None),
    ]


def test_an_incident_after_the_latest_deploy_of_its_service_voids_that_change_only() -> None:
    ingest(story())
    drain()
    a, b = unit("a"), unit("b")
    assert (a.state, a.attributions) == ("completed", [])
    assert b.state == "voided"
    assert b.reason is not None
    assert b.reason.endswith("via deploy-window")
    incident = WorkEvent.objects.get(external_id="i1-opened")
    [attribution] = b.attributions
    assert attribution["method"] == "deploy-window"
    assert (attribution["event"], attribution["incident"]) == (incident.pk, "incident:Pi1")
    assert incident.pk in b.evidence
    assert_matches_engine(NOW)


@pytest.mark.parametrize("seed", range(6))
def test_any_arrival_order_and_batching_ends_in_the_same_state(seed: int) -> None:
    events = story()
    random.Random(seed).shuffle(events)
    for one in events:  # one pass per event: the incident may come before its deploy
        ingest([one])
        drain()
    assert (unit("a").state, unit("b").state) == ("completed", "voided")
    assert_matches_engine(NOW)


def test_a_later_deploy_arriving_last_takes_the_incident_over() -> None:
    events = story()
    b_deploy = next(e for e in events if e["id"] == "b-deploy")
    ingest([e for e in events if e is not b_deploy])
    drain()
    # b is not deployed (and its deploy deadline has passed): a takes the blame.
    assert (unit("a").state, unit("b").state) == ("voided", "expired")
    ingest([b_deploy])
    drain()
    assert (unit("a").state, unit("b").state) == ("completed", "voided")
    assert_matches_engine(NOW)


def test_an_incident_tool_naming_the_service_otherwise_links_through_a_mapping() -> None:
    pagerduty = Source.objects.create(kind="pagerduty", slug="ops")
    ingest(stories.durable_change("c", START, deploy_after=1, service="acme/api"))
    opened = stories.incident("i3", START + timedelta(days=1, hours=2), service="API Service")
    opened[0]["attributes"]["service_id"] = "PF9KMXH"
    opened[0]["source"] = "pagerduty-ops-api"  # posted under its own API source
    ingest(opened)
    drain()
    assert unit("c").state == "completed"

    source = Source.objects.get(slug="pagerduty-ops-api")
    service_name_create(source=source, external_name="PF9KMXH", service="acme/api")
    assert EventOutbox.objects.exists()  # the source's incident is scored again
    drain()
    assert unit("c").state == "voided"
    assert_matches_engine(NOW)
    assert pagerduty.service_names.count() == 0


def test_the_report_counts_incidents_by_method_and_the_unattributed_ones() -> None:
    ingest(story())
    ingest(stories.durable_change("x", START, deploy_after=1, disqualifier="incident"))
    drain()
    rows = {r["method"]: r for r in incidents_by_method(start=None, stop=None)}
    assert rows["deploy-window"]["incidents"] == 1
    assert rows["deploy-window"]["voiding_attributions"] == 1
    assert rows["explicit"]["incidents"] == 1
    assert rows["unattributed"]["incidents"] == 1  # i2: no service, no named change
    assert rows["unattributed"]["denominators"] == {"incidents_opened": 2}
    assert unattributed_incidents() == 1
