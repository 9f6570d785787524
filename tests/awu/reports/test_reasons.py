"""A unit's reason in words, built from the event that voided it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awu.reports.reasons import EventFacts, reason_words
from ledger.models import Source, WorkEvent
from tests.awu.reports import build
from tests.conftest import Api

NOV_4 = datetime(2026, 11, 4, 9, tzinfo=UTC)


def test_a_deal_moved_back_says_from_which_stage_to_which_when_and_where() -> None:
    event = EventFacts(
        "crm.opportunity.stage_changed",
        NOV_4,
        {"from_stage": "Negotiation", "to_stage": "Qualification"},
        "hubspot",
    )
    words = reason_words("voided by crm.opportunity.stage_changed (event 7)", {7: event})
    assert words == "The deal moved back from Negotiation to Qualification on 4 Nov 2026 (HubSpot)"


def test_a_revert_and_an_incident_read_as_what_happened() -> None:
    revert = EventFacts("code.reverted", NOV_4, {}, "github")
    incident = EventFacts("incident.attributed", NOV_4, {"severity": "SEV2"}, "pagerduty")
    assert reason_words("voided by code.reverted (event 1)", {1: revert}) == (
        "The change was reverted on 4 Nov 2026 (GitHub)"
    )
    assert reason_words("voided by incident.attributed (event 2)", {2: incident}) == (
        "A SEV2 incident was traced to it on 4 Nov 2026 (PagerDuty)"
    )


def test_pending_and_expired_reasons_read_as_words() -> None:
    assert reason_words("survival window open until 2026-12-03T12:00:00Z", {}) == (
        "Maturing: counts once it survives to 3 Dec 2026"
    )
    assert reason_words("deploy.succeeded not seen by 2026-11-15T12:00:00Z", {}) == (
        "Expired: no deploy.succeeded by 15 Nov 2026"
    )


@given(st.text(max_size=80))
def test_any_stored_reason_gives_text_and_never_fails(reason: str) -> None:
    words = reason_words(reason, {})
    assert words == reason or isinstance(words, str)


@pytest.mark.django_db
def test_the_work_unit_api_gives_the_reason_in_words_and_the_engines(
    api: Callable[..., Api],
) -> None:
    version = build.definition(key="deal-advanced", domain="sales")
    voided = build.unit(version, state="voided", triggered_at=build.at(2))
    hubspot = Source.objects.create(kind="hubspot", slug="emea")
    event = WorkEvent.objects.create(
        source=hubspot,
        external_id="d1",
        type="crm.opportunity.stage_changed",
        occurred_at=build.at(4),
        received_at=build.at(4),
        refs={},
        ref_keys=[],
        attributes={"from_stage": "Negotiation", "to_stage": "Qualification"},
    )
    voided.reason = f"voided by crm.opportunity.stage_changed (event {event.pk})"
    voided.evidence = [*voided.evidence, event.pk]
    voided.save()
    reader = api("reports:read")
    [row] = reader.get("/api/v1/work-units", {"state": "voided"}).json()["results"]
    assert row["reason"] == (
        "The deal moved back from Negotiation to Qualification on 4 Mar 2026 (HubSpot)"
    )
    assert row["reason_code"] == voided.reason
    detail = reader.get(f"/api/v1/work-units/{voided.pk}").json()
    assert detail["reason"] == row["reason"]
