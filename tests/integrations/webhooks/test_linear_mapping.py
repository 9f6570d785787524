"""Linear webhooks: signature and replay checks, mapping to canonical events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import linear
from integrations.webhooks.base import Delivery, Mapped, MappingError, SignatureError, hmac_hex
from tests.integrations.webhooks.mapping import Recorded, json_values, maps_or_refuses

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linear"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
edited = RECORDED.edited
SECRET = "lin_wh_signing_secret"
DELIVERY_ID = "234d1a4e-b617-4388-90fe-adc3633d6b72"
# The clock of the completed fixture's delivery (webhookTimestamp 1676056940508).
SENT = datetime.fromtimestamp(1676056940.508, tz=UTC)


def delivery(body: bytes, *, secret: str = SECRET) -> Delivery:
    headers = {
        "Linear-Signature": hmac_hex(secret, body),
        "Linear-Delivery": DELIVERY_ID,
        "Linear-Event": "Issue",
    }
    return Delivery(body=body, headers=headers)


def test_fresh_delivery_signed_with_the_live_secret_is_accepted() -> None:
    linear.verify(delivery(body_of("issue.update.completed.json")), [SECRET], SENT)


def test_delivery_older_than_the_tolerance_is_refused_as_a_replay() -> None:
    late = SENT + timedelta(seconds=linear.REPLAY_TOLERANCE_SECONDS + 1)
    with pytest.raises(SignatureError, match="tolerance"):
        linear.verify(delivery(body_of("issue.update.completed.json")), [SECRET], late)


def test_delivery_at_the_edge_of_the_tolerance_is_accepted() -> None:
    edge = SENT + timedelta(seconds=linear.REPLAY_TOLERANCE_SECONDS)
    linear.verify(delivery(body_of("issue.update.completed.json")), [SECRET], edge)


def test_delivery_from_the_future_beyond_the_tolerance_is_refused() -> None:
    early = SENT - timedelta(seconds=linear.REPLAY_TOLERANCE_SECONDS + 1)
    with pytest.raises(SignatureError, match="tolerance"):
        linear.verify(delivery(body_of("issue.update.completed.json")), [SECRET], early)


def test_signed_body_without_webhook_timestamp_is_refused() -> None:
    body = edited("issue.update.completed.json", lambda p: p.pop("webhookTimestamp"))
    with pytest.raises(SignatureError, match="webhookTimestamp missing"):
        linear.verify(delivery(body), [SECRET], SENT)


def test_issue_entering_a_completed_state_becomes_ticket_resolved() -> None:
    [event] = linear.parse(delivery(body_of("issue.update.completed.json")), {}).events
    assert event["type"] == "ticket.resolved"
    assert event["id"] == DELIVERY_ID
    assert event["subject"] == "linear:LIN-1778"
    assert event["refs"] == {"ticket": ["LIN-1778"]}
    assert event["occurred_at"] == "2023-02-10T19:22:20.311000Z"
    assert event["actor"] == "demo@linear.app"
    assert event["attributes"]["team"] == "LIN"
    assert event["attributes"]["priority"] == "High"
    assert event["attributes"]["labels"] == ["Bug"]


def test_issue_leaving_a_completed_state_becomes_ticket_reopened() -> None:
    [event] = linear.parse(delivery(body_of("issue.update.reopened.json")), {}).events
    assert event["type"] == "ticket.reopened"
    assert event["refs"] == {"ticket": ["LIN-1778"]}


def test_move_between_two_completed_states_is_ignored() -> None:
    def done_to_done(payload: dict[str, Any]) -> None:
        payload["updatedFrom"] = {"stateId": "another-done-state"}

    mapped = linear.parse(delivery(edited("issue.update.completed.json", done_to_done)), {})
    assert mapped.ignored == "state change does not enter or leave completed"


def test_update_that_does_not_touch_the_state_is_ignored() -> None:
    mapped = linear.parse(delivery(body_of("issue.update.title.json")), {})
    assert mapped.ignored == "issue update does not change its state"


def test_comment_events_are_ignored() -> None:
    assert linear.parse(delivery(body_of("comment.create.json")), {}).ignored == (
        "Comment create not used"
    )


def test_redelivery_yields_identical_ids() -> None:
    body = body_of("issue.update.completed.json")
    assert linear.parse(delivery(body), {}) == linear.parse(delivery(body), {})


def test_missing_delivery_header_is_a_mapping_error() -> None:
    body = body_of("issue.update.completed.json")
    headers = {"Linear-Signature": hmac_hex(SECRET, body)}
    with pytest.raises(MappingError, match="Linear-Delivery"):
        linear.parse(Delivery(body=body, headers=headers), {})


def test_completion_without_identifier_is_a_mapping_error() -> None:
    body = edited("issue.update.completed.json", lambda p: p["data"].pop("identifier"))
    with pytest.raises(MappingError, match=r"data\.identifier missing"):
        linear.parse(delivery(body), {})


JSON_VALUES = json_values()
TOP = ["type", "action", "data", "updatedFrom", "actor", "createdAt", "url"]
DATA = ["state", "completedAt", "identifier", "updatedAt", "labels", "team", "assignee"]


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["issue.update.completed.json", "issue.update.reopened.json"]),
    field=st.sampled_from(TOP),
    value=JSON_VALUES,
)
def test_mutated_payloads_map_or_raise_mapping_error_only(
    name: str, field: str, value: Any
) -> None:
    body = edited(name, lambda p: p.update({field: value}))
    maps_or_refuses(lambda: linear.parse(delivery(body), {}))


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(DATA), value=JSON_VALUES)
def test_mutated_issue_data_maps_or_raises_mapping_error_only(field: str, value: Any) -> None:
    body = edited("issue.update.completed.json", lambda p: p["data"].update({field: value}))
    maps_or_refuses(lambda: linear.parse(delivery(body), {}))


@settings(max_examples=200, deadline=None)
@given(payload=JSON_VALUES)
def test_random_payloads_never_raise_anything_but_the_contract_errors(payload: Any) -> None:
    body = json.dumps(payload).encode()
    try:
        linear.verify(delivery(body), [SECRET], SENT)
        result = linear.parse(delivery(body), {})
    except (MappingError, SignatureError):
        return
    assert isinstance(result, Mapped)
