"""Zendesk: webhook signature with replay window, and ticket status mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import zendesk
from integrations.webhooks.base import Delivery, MappingError, SignatureError
from tests.integrations.webhooks.mapping import (
    SLOW_OK,
    Recorded,
    json_values,
    maps_or_refuses,
    only_event,
    replace_key,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "zendesk"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
edited = RECORDED.edited
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
NOW = datetime(2026, 11, 4, 10, 56, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed(body: bytes, *, secret: str = SECRET, sent_at: datetime = NOW) -> Delivery:
    timestamp = stamp(sent_at)
    headers = httpx.Headers(
        {
            "X-Zendesk-Webhook-Signature": sign(secret, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }
    )
    return Delivery(body=body, headers=headers)


# Signatures


def test_signature_from_the_signing_secret_is_accepted() -> None:
    zendesk.verify(signed(body_of("ticket_solved.json")), [SECRET], NOW)


def test_missing_timestamp_is_refused() -> None:
    headers = httpx.Headers({"X-Zendesk-Webhook-Signature": "abc="})
    with pytest.raises(SignatureError, match="Timestamp header missing"):
        zendesk.verify(Delivery(body=b"{}", headers=headers), [SECRET], NOW)


def test_signature_with_a_changed_timestamp_is_refused() -> None:
    delivery = signed(body_of("ticket_solved.json"))
    headers = httpx.Headers(
        {
            "X-Zendesk-Webhook-Signature": delivery.headers.get("X-Zendesk-Webhook-Signature"),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp(NOW - timedelta(seconds=1)),
        }
    )
    with pytest.raises(SignatureError):
        zendesk.verify(Delivery(body=delivery.body, headers=headers), [SECRET], NOW)


def test_timestamp_outside_the_tolerance_is_a_replay() -> None:
    delivery = signed(body_of("ticket_solved.json"), sent_at=NOW - timedelta(minutes=6))
    with pytest.raises(SignatureError, match="tolerance"):
        zendesk.verify(delivery, [SECRET], NOW)


def test_timestamp_inside_the_tolerance_is_accepted() -> None:
    delivery = signed(body_of("ticket_solved.json"), sent_at=NOW - timedelta(minutes=4))
    zendesk.verify(delivery, [SECRET], NOW)


def test_unreadable_timestamp_is_refused() -> None:
    headers = httpx.Headers(
        {"X-Zendesk-Webhook-Signature": "abc=", "X-Zendesk-Webhook-Signature-Timestamp": "soon"}
    )
    with pytest.raises(SignatureError, match="not a timestamp"):
        zendesk.verify(Delivery(body=b"{}", headers=headers), [SECRET], NOW)


# Mapping: event subscriptions


def test_ticket_solved_becomes_ticket_resolved() -> None:
    event = only_event(zendesk.parse(signed(body_of("ticket_solved.json")), {}))
    assert event["type"] == "ticket.resolved"
    assert event["refs"] == {"ticket": ["zendesk:5158"]}
    assert event["subject"] == "zendesk:ticket/5158"


def test_resolved_ticket_carries_the_event_id_time_and_actor() -> None:
    event = only_event(zendesk.parse(signed(body_of("ticket_solved.json")), {}))
    assert event["id"] == "cbe4028c-7239-495d-b020-f22348516046"
    assert event["occurred_at"] == "2026-11-04T10:55:14.929011Z"
    assert event["actor"] == "zendesk:8447388090494"


def test_resolved_ticket_records_both_statuses_lowercased() -> None:
    event = only_event(zendesk.parse(signed(body_of("ticket_solved.json")), {}))
    assert event["attributes"]["from_status"] == "open"
    assert event["attributes"]["to_status"] == "solved"
    assert event["attributes"]["priority"] == "HIGH"


def test_solved_ticket_opened_again_becomes_ticket_reopened() -> None:
    event = only_event(zendesk.parse(signed(body_of("ticket_reopened.json")), {}))
    assert event["type"] == "ticket.reopened"
    assert event["refs"] == {"ticket": ["zendesk:5158"]}


def test_closed_ticket_set_to_pending_is_reopened() -> None:
    body = edited(
        "ticket_reopened.json",
        lambda p: p["event"].update(previous="CLOSED", current="PENDING"),
    )
    assert only_event(zendesk.parse(signed(body), {}))["type"] == "ticket.reopened"


def test_status_given_as_an_object_is_understood() -> None:
    body = edited(
        "ticket_solved.json",
        lambda p: p["event"].update(previous={"status": "Open"}, current={"status": "Solved"}),
    )
    assert only_event(zendesk.parse(signed(body), {}))["type"] == "ticket.resolved"


def test_solved_to_closed_is_ignored() -> None:
    body = edited(
        "ticket_solved.json", lambda p: p["event"].update(previous="SOLVED", current="CLOSED")
    )
    assert zendesk.parse(signed(body), {}).ignored == "status change solved -> closed not used"


def test_open_to_pending_is_ignored() -> None:
    body = edited(
        "ticket_solved.json", lambda p: p["event"].update(previous="OPEN", current="PENDING")
    )
    mapped = zendesk.parse(signed(body), {})
    assert mapped.events == []
    assert mapped.ignored == "status change open -> pending not used"


def test_other_event_types_are_ignored() -> None:
    mapped = zendesk.parse(signed(body_of("user_active_changed.json")), {})
    assert mapped.ignored == "event zen:event-type:user.active_changed not used"


def test_redelivery_yields_identical_records() -> None:
    first = zendesk.parse(signed(body_of("ticket_solved.json")), {})
    again = zendesk.parse(
        signed(body_of("ticket_solved.json"), sent_at=NOW + timedelta(minutes=2)), {}
    )
    assert first.events == again.events


def test_missing_ticket_id_is_a_mapping_error() -> None:
    body = edited("ticket_solved.json", lambda p: p["detail"].pop("id"))
    with pytest.raises(MappingError, match=r"detail\.id missing"):
        zendesk.parse(signed(body), {})


def test_missing_previous_status_is_a_mapping_error() -> None:
    body = edited("ticket_solved.json", lambda p: p["event"].pop("previous"))
    with pytest.raises(MappingError, match=r"event\.previous missing"):
        zendesk.parse(signed(body), {})


def test_body_of_unknown_shape_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="neither a Zendesk event"):
        zendesk.parse(signed(b'{"ticket": {"id": 1}}'), {})


# Mapping: trigger bodies


def test_trigger_body_becomes_ticket_resolved_with_the_agent_as_actor() -> None:
    event = only_event(zendesk.parse(signed(body_of("trigger_solved.json")), {}))
    assert event["type"] == "ticket.resolved"
    assert event["actor"] == "agent@example.com"
    assert event["refs"] == {"ticket": ["zendesk:5158"]}
    assert event["occurred_at"] == "2026-11-04T10:55:14Z"


def test_trigger_redelivery_yields_the_same_id() -> None:
    first = only_event(zendesk.parse(signed(body_of("trigger_solved.json")), {}))
    again = only_event(zendesk.parse(signed(body_of("trigger_solved.json")), {}))
    assert first["id"] == again["id"] == "ticket.resolved:5158:2026-11-04T10:55:14Z"


def test_trigger_with_an_unknown_awu_event_is_a_mapping_error() -> None:
    body = edited("trigger_solved.json", lambda p: p.update(awu_event="ticket.created"))
    with pytest.raises(MappingError, match="awu_event must be one of"):
        zendesk.parse(signed(body), {})


def test_trigger_without_update_time_is_a_mapping_error() -> None:
    body = edited("trigger_solved.json", lambda p: p.pop("updated_at"))
    with pytest.raises(MappingError, match="updated_at missing"):
        zendesk.parse(signed(body), {})


# Robustness


JSON = json_values(floats=True)
FIELDS = st.sampled_from(
    [
        "type",
        "id",
        "time",
        "detail",
        "event",
        "previous",
        "current",
        "actor_id",
        "via",
        "priority",
        "awu_event",
        "ticket_id",
        "updated_at",
        "status",
        "actor_email",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(
    name=st.sampled_from(["ticket_solved.json", "ticket_reopened.json", "trigger_solved.json"]),
    key=FIELDS,
    value=JSON,
)
def test_mutated_payloads_map_or_raise_mapping_error(name: str, key: str, value: Any) -> None:
    payload = json.loads(body_of(name))
    replace_key(payload, key, value)
    maps_or_refuses(lambda: zendesk.parse(signed(json.dumps(payload).encode()), {}))


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(signature=st.text(max_size=60), timestamp=st.text(max_size=30))
def test_random_headers_only_ever_raise_signature_error(signature: str, timestamp: str) -> None:
    headers = httpx.Headers(
        {
            "X-Zendesk-Webhook-Signature": signature.encode("ascii", "ignore").decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp.encode("ascii", "ignore").decode(),
        }
    )
    with pytest.raises(SignatureError):
        zendesk.verify(Delivery(body=b"{}", headers=headers), [SECRET], NOW)
