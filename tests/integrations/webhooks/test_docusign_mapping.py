"""DocuSign Connect: HMAC check and mapping of completed envelopes to contract.signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import docusign
from integrations.webhooks.base import Delivery, MappingError, SignatureError
from tests.integrations.webhooks.mapping import (
    SLOW_OK,
    Recorded,
    json_values,
    maps_or_refuses,
    only_event,
    replace_key,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "docusign"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
edited = RECORDED.edited
SECRET = "connect-key-one"
NOW = datetime(2026, 11, 3, 15, 43, tzinfo=UTC)
ENVELOPE_ID = "93be49ab-1234-4d0b-9a5c-f752070d71ec"


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(body: bytes, *signatures: str) -> Delivery:
    headers = {f"X-DocuSign-Signature-{n}": value for n, value in enumerate(signatures, 1)}
    return Delivery(body=body, headers=httpx.Headers(headers))


def signed(body: bytes, secret: str = SECRET) -> Delivery:
    return delivery(body, sign(secret, body))


# Signatures


def test_signature_from_the_live_key_is_accepted() -> None:
    docusign.verify(signed(body_of("envelope_completed.json")), [SECRET], NOW)


def test_signature_over_a_different_body_is_refused() -> None:
    body = body_of("envelope_completed.json")
    with pytest.raises(SignatureError):
        docusign.verify(delivery(body + b" ", sign(SECRET, body)), [SECRET], NOW)


def test_any_of_several_signature_headers_may_match() -> None:
    # One header per Connect key: the second header carries the key we know.
    body = body_of("envelope_completed.json")
    docusign.verify(delivery(body, sign("retired-key", body), sign(SECRET, body)), [SECRET], NOW)


def test_header_names_are_matched_case_insensitively() -> None:
    body = body_of("envelope_completed.json")
    headers = httpx.Headers({"x-docusign-signature-1": sign(SECRET, body)})
    docusign.verify(Delivery(body=body, headers=headers), [SECRET], NOW)


def test_no_live_secret_refuses_everything() -> None:
    with pytest.raises(SignatureError):
        docusign.verify(signed(body_of("envelope_completed.json")), [], NOW)


# Mapping


def test_completed_envelope_becomes_contract_signed() -> None:
    event = only_event(docusign.parse(signed(body_of("envelope_completed.json")), {}))
    assert event["type"] == "contract.signed"
    assert event["refs"] == {"envelope": [ENVELOPE_ID]}
    assert event["subject"] == f"docusign:envelope/{ENVELOPE_ID}"


def test_contract_signed_occurs_when_the_envelope_completed_in_utc() -> None:
    event = only_event(docusign.parse(signed(body_of("envelope_completed.json")), {}))
    assert event["occurred_at"] == "2026-11-03T15:42:17.647000Z"
    assert event["attributes"]["completed_at"] == event["occurred_at"]


def test_contract_signed_carries_subject_sender_and_recipient_count() -> None:
    event = only_event(docusign.parse(signed(body_of("envelope_completed.json")), {}))
    assert event["attributes"]["email_subject"] == "Please DocuSign: Master Services Agreement.pdf"
    assert event["attributes"]["sender"] == "dana.legal@example.com"
    assert event["attributes"]["recipients_count"] == 2


def test_sender_email_is_the_actor() -> None:
    event = only_event(docusign.parse(signed(body_of("envelope_completed.json")), {}))
    assert event["actor"] == "dana.legal@example.com"


def test_without_summary_the_actor_is_the_docusign_user_and_time_is_the_message_time() -> None:
    body = edited("envelope_completed.json", lambda p: p["data"].pop("envelopeSummary"))
    event = only_event(docusign.parse(signed(body), {}))
    assert event["actor"] == "docusign:11111111-aaaa-bbbb-cccc-000000000002"
    assert event["occurred_at"] == "2026-11-03T15:42:19.357000Z"


REPLACEMENT_ID = "c4e1f7d2-5678-4a1b-8c3d-0a9b8c7d6e5f"


def test_voided_replacement_envelope_cancels_the_contract_it_replaces() -> None:
    event = only_event(docusign.parse(signed(body_of("envelope_voided.json")), {}))
    assert event["type"] == "contract.cancelled"
    # Carries the signature's envelope ref, so it links to (and voids) that unit.
    assert event["refs"] == {"envelope": [REPLACEMENT_ID, ENVELOPE_ID]}
    assert event["attributes"]["reason"] == "voided"
    assert event["attributes"]["voided_reason"] == "Customer terminated the agreement"
    assert event["occurred_at"] == "2026-11-20T10:05:11.043000Z"
    assert event["id"] == f"envelope-voided:{REPLACEMENT_ID}"


def test_replaced_envelope_field_name_is_configurable() -> None:
    body = edited(
        "envelope_voided.json",
        lambda p: p["data"]["envelopeSummary"]["customFields"]["textCustomFields"][0].update(
            name="Supersedes"
        ),
    )
    assert only_event(docusign.parse(signed(body), {}))["refs"] == {"envelope": [REPLACEMENT_ID]}
    event = only_event(docusign.parse(signed(body), {"replaces_field": "Supersedes"}))
    assert event["refs"] == {"envelope": [REPLACEMENT_ID, ENVELOPE_ID]}


def test_declined_envelope_is_a_cancellation_of_its_own_envelope() -> None:
    event = only_event(docusign.parse(signed(body_of("envelope_declined.json")), {}))
    assert event["type"] == "contract.cancelled"
    assert event["refs"] == {"envelope": [REPLACEMENT_ID]}
    assert event["attributes"]["reason"] == "declined"


def test_record_has_no_source() -> None:
    event = only_event(docusign.parse(signed(body_of("envelope_completed.json")), {}))
    assert "source" not in event


def test_redelivery_yields_identical_records() -> None:
    first = docusign.parse(signed(body_of("envelope_completed.json")), {})
    # Connect retries bump retryCount and may restamp the message time.
    retried = edited(
        "envelope_completed.json",
        lambda p: p.update(retryCount=3, generatedDateTime="2026-11-03T16:42:19.0000000Z"),
    )
    again = docusign.parse(signed(retried), {})
    assert first.events == again.events
    assert first.events[0]["id"] == f"envelope-completed:{ENVELOPE_ID}"


def test_sent_envelope_is_ignored() -> None:
    mapped = docusign.parse(signed(body_of("envelope_sent.json")), {})
    assert mapped.events == []
    assert mapped.ignored == "event envelope-sent not used"


def test_completed_recipient_is_not_a_signed_contract() -> None:
    mapped = docusign.parse(signed(body_of("recipient_completed.json")), {})
    assert mapped.events == []
    assert mapped.ignored == "event recipient-completed not used"


def test_missing_event_is_a_mapping_error() -> None:
    body = edited("envelope_completed.json", lambda p: p.pop("event"))
    with pytest.raises(MappingError, match="event missing"):
        docusign.parse(signed(body), {})


def test_missing_envelope_id_is_a_mapping_error() -> None:
    body = edited("envelope_completed.json", lambda p: p["data"].pop("envelopeId"))
    with pytest.raises(MappingError, match=r"data\.envelopeId missing"):
        docusign.parse(signed(body), {})


def test_bad_completed_time_is_a_mapping_error() -> None:
    body = edited(
        "envelope_completed.json",
        lambda p: p["data"]["envelopeSummary"].update(completedDateTime="yesterday"),
    )
    with pytest.raises(MappingError, match="completedDateTime is not an RFC 3339"):
        docusign.parse(signed(body), {})


# Robustness


JSON = json_values(floats=True)
FIELDS = st.sampled_from(
    [
        "event",
        "data",
        "envelopeId",
        "envelopeSummary",
        "completedDateTime",
        "sender",
        "recipients",
        "generatedDateTime",
        "userId",
        "email",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(key=FIELDS, value=JSON)
def test_mutated_completed_envelope_maps_or_raises_mapping_error(key: str, value: Any) -> None:
    payload = json.loads(body_of("envelope_completed.json"))
    replace_key(payload, key, value)
    body = json.dumps(payload).encode()
    maps_or_refuses(lambda: docusign.parse(signed(body), {}))


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(
    headers=st.dictionaries(
        st.sampled_from(["X-DocuSign-Signature-1", "X-DocuSign-Signature-2", "Other"]),
        st.text(max_size=60),
    )
)
def test_random_signature_headers_only_ever_raise_signature_error(headers: dict[str, str]) -> None:
    printable = {k: v.encode("ascii", "ignore").decode() for k, v in headers.items()}
    try:
        docusign.verify(Delivery(body=b"{}", headers=httpx.Headers(printable)), [SECRET], NOW)
    except SignatureError:
        return
