"""Jira Cloud webhooks: signature check and mapping to canonical events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import jira
from integrations.webhooks.base import Delivery, MappingError, hmac_hex
from tests.integrations.webhooks.mapping import Recorded, json_values, maps_or_refuses

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jira"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
edited = RECORDED.edited
SECRET = "jira-admin-webhook-secret"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
IDENTIFIER = "1606480436302-10124"


def delivery(body: bytes, *, secret: str = SECRET, identifier: str = IDENTIFIER) -> Delivery:
    headers = {
        "X-Hub-Signature": "sha256=" + hmac_hex(secret, body),
        "X-Atlassian-Webhook-Identifier": identifier,
    }
    return Delivery(body=body, headers=headers)


def test_signature_from_the_live_secret_is_accepted() -> None:
    jira.verify(delivery(body_of("issue_updated.resolved.json")), [SECRET], NOW)


def test_issue_moved_to_done_becomes_ticket_resolved() -> None:
    config = {"support_projects": ["SUP"]}
    [event] = jira.parse(delivery(body_of("issue_updated.resolved.json")), config).events
    assert event == {
        "id": IDENTIFIER,
        "type": "ticket.resolved",
        "occurred_at": "2020-11-27T12:33:56.302Z",
        "subject": "jira:SUP-4",
        "actor": "jira:5b10a2844c20165700ede21g",
        "refs": {"ticket": ["SUP-4"]},
        "attributes": {
            "project": "SUP",
            "issue_type": "Bug",
            "priority": "High",
            "status": "Done",
            "from_status": "In Progress",
            "resolution": "Done",
            "summary": "Customer cannot reset password",
            "domain": "support",
        },
    }


def test_issue_moved_out_of_done_becomes_ticket_reopened() -> None:
    [event] = jira.parse(delivery(body_of("issue_updated.reopened.json")), {}).events
    assert event["type"] == "ticket.reopened"
    assert event["refs"] == {"ticket": ["SUP-4"]}


def test_status_change_alone_uses_the_configured_done_statuses() -> None:
    def status_only(payload: dict[str, Any]) -> None:
        payload["changelog"]["items"] = [
            i for i in payload["changelog"]["items"] if i["field"] == "status"
        ]
        payload["changelog"]["items"][0]["fromString"] = "Shipped"

    body = edited("issue_updated.reopened.json", status_only)
    assert jira.parse(delivery(body), {}).ignored is not None
    [event] = jira.parse(delivery(body), {"done_statuses": ["Shipped"]}).events
    assert event["type"] == "ticket.reopened"


def test_move_between_two_done_statuses_is_ignored() -> None:
    def done_to_closed(payload: dict[str, Any]) -> None:
        payload["changelog"]["items"] = [
            {"field": "status", "fieldId": "status", "fromString": "Done", "toString": "Closed"}
        ]

    body = edited("issue_updated.resolved.json", done_to_closed)
    assert jira.parse(delivery(body), {}).ignored == "status change does not enter or leave done"


def test_engineering_project_gets_the_engineering_domain() -> None:
    [event] = jira.parse(
        delivery(body_of("issue_updated.resolved.json")), {"engineering_projects": ["SUP"]}
    ).events
    assert event["attributes"]["domain"] == "engineering"


def test_published_example_update_of_summary_and_type_is_ignored() -> None:
    mapped = jira.parse(delivery(body_of("issue_updated.published.json")), {})
    assert mapped.ignored == "issue update changes neither status nor resolution"


def test_issue_created_is_ignored() -> None:
    assert jira.parse(delivery(body_of("issue_created.json")), {}).ignored is not None


def test_redelivery_yields_identical_ids() -> None:
    body = body_of("issue_updated.resolved.json")
    assert jira.parse(delivery(body), {}) == jira.parse(delivery(body), {})


def test_missing_webhook_identifier_is_a_mapping_error() -> None:
    body = body_of("issue_updated.resolved.json")
    with pytest.raises(MappingError, match="X-Atlassian-Webhook-Identifier"):
        jira.parse(Delivery(body=body, headers={}), {})


def test_resolution_without_issue_key_is_a_mapping_error() -> None:
    body = edited("issue_updated.resolved.json", lambda p: p["issue"].pop("key"))
    with pytest.raises(MappingError, match=r"issue\.key missing"):
        jira.parse(delivery(body), {})


JSON_VALUES = json_values()
TOP = ["timestamp", "webhookEvent", "user", "issue", "changelog"]
FIELDS = ["status", "resolution", "project", "priority", "issuetype"]


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["issue_updated.resolved.json", "issue_updated.reopened.json"]),
    field=st.sampled_from(TOP),
    value=JSON_VALUES,
)
def test_mutated_payloads_map_or_raise_mapping_error_only(
    name: str, field: str, value: Any
) -> None:
    body = edited(name, lambda p: p.update({field: value}))
    maps_or_refuses(lambda: jira.parse(delivery(body), {}))


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES, items=JSON_VALUES)
def test_mutated_fields_and_changelog_map_or_raise_mapping_error_only(
    field: str, value: Any, items: Any
) -> None:
    def mutate(payload: dict[str, Any]) -> None:
        payload["issue"]["fields"][field] = value
        payload["changelog"]["items"].append(items)

    body = edited("issue_updated.resolved.json", mutate)
    maps_or_refuses(lambda: jira.parse(delivery(body), {}))
