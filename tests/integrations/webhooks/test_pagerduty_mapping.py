"""PagerDuty V3 webhooks: signature check and mapping to canonical events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import pagerduty
from integrations.webhooks.base import Delivery, MappingError, SignatureError, hmac_hex
from tests.integrations.webhooks.mapping import Recorded, json_values, maps_or_refuses

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pagerduty"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
SECRET = "pd-signing-secret-1"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def delivery(body: bytes, *, secrets: tuple[str, ...] = (SECRET,)) -> Delivery:
    header = ",".join("v1=" + hmac_hex(secret, body) for secret in secrets)
    return Delivery(body=body, headers={"X-PagerDuty-Signature": header})


def edited(name: str, change: Any) -> bytes:
    return RECORDED.edited(name, change, within="event")


def test_signature_from_the_live_secret_is_accepted() -> None:
    pagerduty.verify(delivery(body_of("incident.triggered.json")), [SECRET], NOW)


def test_header_without_a_v1_signature_is_refused() -> None:
    unsigned = Delivery(body=b"{}", headers={"X-PagerDuty-Signature": "v0=abc"})
    with pytest.raises(SignatureError, match="no v1"):
        pagerduty.verify(unsigned, [SECRET], NOW)


def test_any_of_several_signatures_matching_is_accepted() -> None:
    # PagerDuty signs with both of its secrets while it rotates one.
    signed = delivery(body_of("incident.triggered.json"), secrets=("retired", SECRET))
    pagerduty.verify(signed, [SECRET], NOW)


def test_triggered_incident_becomes_incident_opened() -> None:
    mapped = pagerduty.parse(delivery(body_of("incident.triggered.json")), {})
    [event] = mapped.events
    assert event == {
        "id": "01BRB6ZP4M6T8ZG4X6BP63ZB9A",
        "type": "incident.opened",
        "occurred_at": "2020-04-09T15:16:27Z",
        "subject": "pagerduty:incident/PGR0VU2",
        "actor": "pagerduty:PLH1HKV",
        "refs": {"incident": ["PGR0VU2"]},
        "attributes": {
            "severity": "P1",
            "urgency": "high",
            "priority": "P1",
            "service": "API Service",
            "service_id": "PF9KMXH",
            "title": "A little bump in the road",
            "number": 2,
            "status": "triggered",
            "teams": ["Engineering"],
        },
    }


def test_resolved_incident_becomes_incident_resolved() -> None:
    [event] = pagerduty.parse(delivery(body_of("incident.resolved.json")), {}).events
    assert event["type"] == "incident.resolved"
    assert event["refs"] == {"incident": ["PGR0VU2"]}
    assert event["occurred_at"] == "2020-04-09T16:02:41.512000Z"


def test_severity_falls_back_to_urgency_without_a_priority() -> None:
    body = edited("incident.triggered.json", lambda e: e["data"].update(priority=None))
    [event] = pagerduty.parse(delivery(body), {}).events
    assert event["attributes"]["severity"] == "high"


def test_triggered_title_naming_a_commit_also_attributes_the_incident() -> None:
    mapped = pagerduty.parse(delivery(body_of("incident.triggered.attributed.json")), {})
    opened, attributed = mapped.events
    assert opened["type"] == "incident.opened"
    assert attributed["type"] == "incident.attributed"
    assert attributed["id"] == "01BRB6ZP4M6T8ZG4X6BP63ZB9B:attributed"
    assert attributed["refs"] == {
        "incident": ["PGR0VU2"],
        "commit": ["c4295bd74fb0f4fda03689c3df3f2803b658fd85"],
    }


def test_note_naming_a_deploy_and_a_pr_attributes_the_incident() -> None:
    [event] = pagerduty.parse(delivery(body_of("incident.annotated.json")), {}).events
    assert event["type"] == "incident.attributed"
    assert event["id"] == "01BRB6ZP4M6T8ZG4X6BP63ZB9E"
    assert event["refs"] == {
        "incident": ["PGR0VU2"],
        "deploy": ["4711"],
        "pr": ["acme/api#123"],
    }


def test_status_update_naming_a_commit_attributes_the_incident() -> None:
    def status_update(event: dict[str, Any]) -> None:
        event["event_type"] = "incident.status_update_published"
        event["data"] = {
            "incident": {"id": "PGR0VU2", "type": "incident_reference"},
            "id": "P2LA89X",
            "message": "Rolled back. Commit: " + "ab" * 20,
            "trimmed": False,
            "type": "incident_status_update",
        }

    [event] = pagerduty.parse(delivery(edited("incident.annotated.json", status_update)), {}).events
    assert event["refs"]["commit"] == ["ab" * 20]


def test_note_naming_no_change_is_ignored() -> None:
    mapped = pagerduty.parse(delivery(body_of("incident.annotated.plain.json")), {})
    assert mapped.ignored == "incident.annotated names no change"


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("caused-by: acme/api#12", {"pr": ["acme/api#12"]}),
        ("Caused by: group/sub/proj!7.", {"pr": ["group/sub/proj!7"]}),
        ("deployment=#99", {"deploy": ["99"]}),
        ("commit: not-a-sha", {}),
        ("precommit: abcdef1", {}),
    ],
)
def test_attribution_convention(text: str, refs: dict[str, list[str]]) -> None:
    assert pagerduty.attributions(text) == refs


def test_other_incident_events_are_ignored() -> None:
    mapped = pagerduty.parse(delivery(body_of("incident.priority_updated.json")), {})
    assert mapped.ignored == "event incident.priority_updated not used"


def test_service_events_are_ignored() -> None:
    assert pagerduty.parse(delivery(body_of("service.updated.json")), {}).ignored is not None


def test_redelivery_yields_identical_ids() -> None:
    body = body_of("incident.triggered.attributed.json")
    first = pagerduty.parse(delivery(body), {})
    again = pagerduty.parse(delivery(body), {})
    assert [e["id"] for e in first.events] == [e["id"] for e in again.events]
    assert first == again


def test_event_without_id_is_a_mapping_error() -> None:
    body = edited("incident.triggered.json", lambda e: e.pop("id"))
    with pytest.raises(MappingError, match=r"^event\.id missing$"):
        pagerduty.parse(delivery(body), {})


JSON_VALUES = json_values(text_size=30)
FIXTURES_USED = [
    "incident.triggered.attributed.json",
    "incident.resolved.json",
    "incident.annotated.json",
]
FIELDS = ["id", "event_type", "occurred_at", "agent", "data"]
DATA_FIELDS = ["id", "title", "content", "incident", "priority", "service", "teams", "number"]


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(FIXTURES_USED), field=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_mutated_events_map_or_raise_mapping_error_only(name: str, field: str, value: Any) -> None:
    body = edited(name, lambda e: e.update({field: value}))
    maps_or_refuses(lambda: pagerduty.parse(delivery(body), {}))


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(FIXTURES_USED), field=st.sampled_from(DATA_FIELDS), value=JSON_VALUES)
def test_mutated_event_data_maps_or_raises_mapping_error_only(
    name: str, field: str, value: Any
) -> None:
    body = edited(name, lambda e: e["data"].update({field: value}))
    maps_or_refuses(lambda: pagerduty.parse(delivery(body), {}))
