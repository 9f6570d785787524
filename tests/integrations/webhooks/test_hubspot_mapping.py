"""HubSpot: v3 request signature and mapping of dealstage changes."""

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

from integrations.webhooks import hubspot
from integrations.webhooks.base import Delivery, Mapped, MappingError, SignatureError
from tests.integrations.webhooks.mapping import SLOW_OK, Recorded, json_values, maps_or_refuses

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hubspot"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
edited = RECORDED.edited
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
URL = "https://awu.example.com/api/v1/hooks/hubspot/emea"


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def sign(secret: str, message: str | bytes) -> str:
    raw = message.encode() if isinstance(message, str) else message
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def signed(
    body: bytes,
    *,
    secret: str = SECRET,
    sent_at: datetime = NOW,
    url: str = URL,
    signed_url: str | None = None,
) -> Delivery:
    timestamp = millis(sent_at)
    message = b"POST" + (signed_url or url).encode() + body + timestamp.encode()
    headers = httpx.Headers(
        {
            "X-HubSpot-Signature-v3": sign(secret, message),
            "X-HubSpot-Request-Timestamp": timestamp,
            "Content-Type": "application/json",
        }
    )
    return Delivery(body=body, headers=headers, url=url, method="POST")


def stage_events(mapped: Mapped) -> list[dict[str, Any]]:
    assert mapped.ignored is None
    return mapped.events


# Signatures


def test_v3_signature_from_the_app_secret_is_accepted() -> None:
    hubspot.verify(signed(body_of("deal_stage_changes.json")), [SECRET], NOW)


def test_missing_timestamp_is_refused() -> None:
    delivery = signed(body_of("deal_stage_changes.json"))
    headers = httpx.Headers(
        {"X-HubSpot-Signature-v3": delivery.headers.get("X-HubSpot-Signature-v3")}
    )
    with pytest.raises(SignatureError, match="Timestamp header missing"):
        hubspot.verify(Delivery(body=delivery.body, headers=headers, url=URL), [SECRET], NOW)


def test_signature_for_another_url_is_refused() -> None:
    delivery = signed(
        body_of("deal_stage_changes.json"),
        signed_url="https://awu.example.com/api/v1/hooks/hubspot/other",
    )
    with pytest.raises(SignatureError):
        hubspot.verify(delivery, [SECRET], NOW)


def test_timestamp_older_than_five_minutes_is_a_replay() -> None:
    delivery = signed(body_of("deal_stage_changes.json"), sent_at=NOW - timedelta(minutes=6))
    with pytest.raises(SignatureError, match="tolerance"):
        hubspot.verify(delivery, [SECRET], NOW)


def test_timestamp_four_minutes_old_is_accepted() -> None:
    delivery = signed(body_of("deal_stage_changes.json"), sent_at=NOW - timedelta(minutes=4))
    hubspot.verify(delivery, [SECRET], NOW)


def test_timestamp_far_in_the_future_is_refused() -> None:
    delivery = signed(body_of("deal_stage_changes.json"), sent_at=NOW + timedelta(minutes=6))
    with pytest.raises(SignatureError, match="tolerance"):
        hubspot.verify(delivery, [SECRET], NOW)


def test_non_numeric_timestamp_is_refused() -> None:
    headers = httpx.Headers(
        {"X-HubSpot-Signature-v3": "abc", "X-HubSpot-Request-Timestamp": "yesterday"}
    )
    with pytest.raises(SignatureError, match="epoch milliseconds"):
        hubspot.verify(Delivery(body=b"[]", headers=headers, url=URL), [SECRET], NOW)


def test_uri_escapes_hubspot_decodes_are_signed_decoded() -> None:
    # HubSpot signs the URI with %3A, %2F, ... decoded; the request line keeps them.
    url = URL + "?next=a%3Ab%2Fc"
    delivery = signed(body_of("deal_stage_changes.json"), url=url, signed_url=URL + "?next=a:b/c")
    hubspot.verify(delivery, [SECRET], NOW)


# Mapping


def test_dealstage_change_becomes_opportunity_stage_changed() -> None:
    first = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))[0]
    assert first["type"] == "crm.opportunity.stage_changed"
    assert first["refs"] == {"deal": ["9876543210"]}
    assert first["subject"] == "hubspot:deal/9876543210"
    assert first["attributes"]["to_stage"] == "contractsent"


def test_one_record_per_dealstage_event_with_the_event_id() -> None:
    events = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))
    assert [event["id"] for event in events] == ["4213871001", "4213871002"]


def test_occurred_at_is_the_event_time_in_utc() -> None:
    first = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))[0]
    assert first["occurred_at"] == "2026-11-03T13:10:00Z"


def test_stage_order_comes_from_the_default_pipeline() -> None:
    first = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))[0]
    assert first["attributes"]["to_order"] == 4
    assert first["attributes"]["stage_order"] == 4
    assert first["attributes"]["pipeline"] == "default"


def test_previous_stage_is_unknown() -> None:
    first = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))[0]
    assert first["attributes"]["from_stage"] is None
    assert first["attributes"]["from_order"] is None


def test_closedwon_is_won_and_not_lost() -> None:
    won = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))[1]
    assert won["attributes"]["won"] is True
    assert won["attributes"]["lost"] is False


def test_configured_stages_replace_the_defaults() -> None:
    config = {
        "stages": ["new", "contractsent", "signed"],
        "won_stages": ["contractsent"],
        "lost_stages": [],
        "pipeline": "enterprise",
    }
    first = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), config))[0]
    assert first["attributes"]["to_order"] == 1
    assert first["attributes"]["won"] is True
    assert first["attributes"]["pipeline"] == "enterprise"


def test_stage_outside_the_configured_order_has_no_order() -> None:
    first = stage_events(
        hubspot.parse(signed(body_of("deal_stage_changes.json")), {"stages": ["a", "b"]})
    )[0]
    assert first["attributes"]["to_order"] is None


def test_user_change_names_the_hubspot_user_and_automation_names_nobody() -> None:
    events = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))
    assert events[0]["actor"] == "hubspot:45678"
    assert "actor" not in events[1]


def test_redelivery_yields_identical_records() -> None:
    first = hubspot.parse(signed(body_of("deal_stage_changes.json")), {})
    retried = edited(
        "deal_stage_changes.json", lambda events: [e.update(attemptNumber=2) for e in events]
    )
    again = hubspot.parse(signed(retried, sent_at=NOW + timedelta(minutes=1)), {})
    assert first.events == again.events


def test_move_into_a_configured_cancelled_stage_is_also_a_contract_cancelled() -> None:
    config = {"cancelled_stages": ["contractsent"]}
    records = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), config))
    stage, cancelled = records[0], records[1]
    assert stage["type"] == "crm.opportunity.stage_changed"
    assert cancelled["type"] == "contract.cancelled"
    assert cancelled["id"] == f"{stage['id']}:cancelled"
    assert cancelled["refs"] == {"envelope": ["hubspot:9876543210"], "deal": ["9876543210"]}
    assert cancelled["attributes"] == {"reason": "contractsent"}
    assert cancelled["occurred_at"] == stage["occurred_at"]


def test_no_stage_cancels_by_default() -> None:
    records = stage_events(hubspot.parse(signed(body_of("deal_stage_changes.json")), {}))
    assert all(r["type"] == "crm.opportunity.stage_changed" for r in records)


def test_documented_example_without_deal_stages_is_ignored_and_counted() -> None:
    mapped = hubspot.parse(signed(body_of("documented_example.json")), {})
    assert mapped.events == []
    assert mapped.ignored == (
        "events not used: 1 contact.creation, 1 contact.propertyChange:lifecyclestage"
    )


def test_other_deal_property_changes_are_not_stage_changes() -> None:
    body = edited("deal_stage_changes.json", lambda events: events.__delitem__(slice(0, 2)))
    mapped = hubspot.parse(signed(body), {})
    assert mapped.ignored == "events not used: 1 deal.propertyChange:amount"


def test_empty_batch_is_ignored() -> None:
    assert hubspot.parse(signed(b"[]"), {}).ignored == "no subscription events"


def test_body_that_is_not_an_array_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="not a JSON array"):
        hubspot.parse(signed(b'{"eventId": 1}'), {})


def test_dealstage_event_without_object_id_is_a_mapping_error() -> None:
    body = edited("deal_stage_changes.json", lambda events: events[0].pop("objectId"))
    with pytest.raises(MappingError, match=r"events\[0\]\.objectId missing"):
        hubspot.parse(signed(body), {})


def test_dealstage_event_without_time_is_a_mapping_error() -> None:
    body = edited("deal_stage_changes.json", lambda events: events[1].update(occurredAt="now"))
    with pytest.raises(MappingError, match=r"events\[1\]\.occurredAt"):
        hubspot.parse(signed(body), {})


def test_badly_typed_stage_config_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="source config stages"):
        hubspot.parse(signed(body_of("deal_stage_changes.json")), {"stages": "closedwon"})


# Robustness


JSON = json_values(floats=True)
FIELDS = st.sampled_from(
    [
        "eventId",
        "objectId",
        "propertyName",
        "propertyValue",
        "occurredAt",
        "subscriptionType",
        "sourceId",
        "portalId",
        "changeSource",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(position=st.integers(0, 2), key=FIELDS, value=JSON)
def test_mutated_batches_map_or_raise_mapping_error(position: int, key: str, value: Any) -> None:
    payload = json.loads(body_of("deal_stage_changes.json"))
    payload[position][key] = value
    maps_or_refuses(lambda: hubspot.parse(signed(json.dumps(payload).encode()), {}))


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(body=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()), config=JSON)
def test_random_bodies_and_configs_map_or_raise_mapping_error(body: bytes, config: Any) -> None:
    maps_or_refuses(lambda: hubspot.parse(signed(body), config if isinstance(config, dict) else {}))


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(signature=st.text(max_size=60), timestamp=st.text(max_size=20))
def test_random_headers_only_ever_raise_signature_error(signature: str, timestamp: str) -> None:
    headers = httpx.Headers(
        {
            "X-HubSpot-Signature-v3": signature.encode("ascii", "ignore").decode(),
            "X-HubSpot-Request-Timestamp": timestamp.encode("ascii", "ignore").decode(),
        }
    )
    with pytest.raises(SignatureError):
        hubspot.verify(Delivery(body=b"[]", headers=headers, url=URL), [SECRET], NOW)
