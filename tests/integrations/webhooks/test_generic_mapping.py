"""Generic JSON hook: X-AWU-Signature with replay window, wire records passed through."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import generic
from integrations.webhooks.base import Delivery, MappingError, SignatureError
from tests.integrations.webhooks.mapping import SLOW_OK, Recorded

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "generic"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
SECRET = "deploy-bot-secret"
NOW = datetime(2026, 11, 1, 12, 0, 5, tzinfo=UTC)


def signed(body: bytes, *, secret: str = SECRET, sent_at: datetime = NOW) -> Delivery:
    timestamp = str(int(sent_at.timestamp()))
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    headers = httpx.Headers(
        {"X-AWU-Signature": f"sha256={digest.hexdigest()}", "X-AWU-Timestamp": timestamp}
    )
    return Delivery(body=body, headers=headers)


# Signatures


def test_signature_over_timestamp_and_body_is_accepted() -> None:
    generic.verify(signed(body_of("deploy_event.json")), [SECRET], NOW)


def test_signature_helper_matches_the_documented_recipe() -> None:
    # printf '%s.%s' 1700000000 '{}' | openssl dgst -sha256 -hmac deploy-bot-secret
    expected = hmac.new(SECRET.encode(), b"1700000000.{}", hashlib.sha256).hexdigest()
    assert generic.signature_for(SECRET, "1700000000", b"{}") == f"sha256={expected}"


def test_missing_timestamp_is_refused() -> None:
    delivery = signed(b"{}")
    headers = httpx.Headers({"X-AWU-Signature": delivery.headers.get("X-AWU-Signature")})
    with pytest.raises(SignatureError, match="X-AWU-Timestamp header missing"):
        generic.verify(Delivery(body=b"{}", headers=headers), [SECRET], NOW)


def test_bare_hex_without_the_sha256_prefix_is_refused() -> None:
    delivery = signed(b"{}")
    bare = delivery.headers.get("X-AWU-Signature").removeprefix("sha256=")
    headers = httpx.Headers(
        {"X-AWU-Signature": bare, "X-AWU-Timestamp": delivery.headers.get("X-AWU-Timestamp")}
    )
    with pytest.raises(SignatureError, match="sha256=<hex>"):
        generic.verify(Delivery(body=b"{}", headers=headers), [SECRET], NOW)


def test_timestamp_outside_five_minutes_is_a_replay() -> None:
    delivery = signed(body_of("deploy_event.json"), sent_at=NOW - timedelta(minutes=5, seconds=1))
    with pytest.raises(SignatureError, match="tolerance"):
        generic.verify(delivery, [SECRET], NOW)


def test_timestamp_inside_five_minutes_is_accepted() -> None:
    delivery = signed(body_of("deploy_event.json"), sent_at=NOW - timedelta(minutes=4))
    generic.verify(delivery, [SECRET], NOW)


def test_replayed_body_with_a_fresh_timestamp_but_old_signature_is_refused() -> None:
    old = signed(body_of("deploy_event.json"), sent_at=NOW - timedelta(minutes=10))
    headers = httpx.Headers(
        {
            "X-AWU-Signature": old.headers.get("X-AWU-Signature"),
            "X-AWU-Timestamp": str(int(NOW.timestamp())),
        }
    )
    with pytest.raises(SignatureError, match="does not match"):
        generic.verify(Delivery(body=old.body, headers=headers), [SECRET], NOW)


# Mapping


def test_single_work_event_passes_through_without_source() -> None:
    mapped = generic.parse(signed(body_of("deploy_event.json")), {})
    expected = json.loads(body_of("deploy_event.json"))
    expected.pop("source")
    assert mapped.events == [expected]
    assert mapped.usage == []


def test_single_usage_record_is_usage() -> None:
    mapped = generic.parse(signed(body_of("usage_record.json")), {})
    assert mapped.events == []
    assert [record["id"] for record in mapped.usage] == ["req-01J8Z3K4M5N6P7Q8R9S0T1U2V3"]
    assert "source" not in mapped.usage[0]


def test_batch_splits_events_and_usage() -> None:
    mapped = generic.parse(signed(body_of("batch.json")), {})
    assert [record["id"] for record in mapped.events] == [
        "deploy-4711-success",
        "deploy-4712-rollback",
    ]
    assert [record["id"] for record in mapped.usage] == ["ci-run-991-usage"]


def test_array_of_records_is_classified_item_by_item() -> None:
    body = json.dumps(
        [json.loads(body_of("deploy_event.json")), json.loads(body_of("usage_record.json"))]
    ).encode()
    mapped = generic.parse(signed(body), {})
    assert len(mapped.events) == 1
    assert len(mapped.usage) == 1


def test_fields_are_not_validated_here() -> None:
    # The ledger answers per item; the hook only checks the envelope.
    mapped = generic.parse(signed(b'{"type": "deploy.succeeded"}'), {})
    assert mapped.events == [{"type": "deploy.succeeded"}]


def test_redelivery_yields_identical_records() -> None:
    first = generic.parse(signed(body_of("batch.json")), {})
    again = generic.parse(signed(body_of("batch.json"), sent_at=NOW + timedelta(minutes=1)), {})
    assert (first.events, first.usage) == (again.events, again.usage)


def test_empty_batch_is_ignored() -> None:
    assert generic.parse(signed(b'{"events": [], "usage": []}'), {}).ignored == (
        "no events or usage records"
    )


def test_batch_with_unknown_keys_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="unknown keys"):
        generic.parse(signed(b'{"events": [], "spend": []}'), {})


def test_events_that_are_not_a_list_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="events is not a JSON array"):
        generic.parse(signed(b'{"events": {"id": "x"}}'), {})


def test_item_that_is_not_an_object_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=r"usage\[1\] is not a JSON object"):
        generic.parse(signed(b'{"usage": [{"model": "m"}, 3]}'), {})


def test_scalar_body_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="not a JSON object or array"):
        generic.parse(signed(b'"deploy"'), {})


# Robustness


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["events", "usage", "type", "model", "source", "id"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(signature=st.text(max_size=70), timestamp=st.text(max_size=20))
def test_random_headers_only_ever_raise_signature_error(signature: str, timestamp: str) -> None:
    headers = httpx.Headers(
        {
            "X-AWU-Signature": signature.encode("ascii", "ignore").decode(),
            "X-AWU-Timestamp": timestamp.encode("ascii", "ignore").decode(),
        }
    )
    with pytest.raises(SignatureError):
        generic.verify(Delivery(body=b"{}", headers=headers), [SECRET], NOW)
