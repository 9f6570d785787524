"""Salesforce outbound messages: URL token, org check, safe XML and stage mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import salesforce
from integrations.webhooks.base import Delivery, Mapped, MappingError, SignatureError
from tests.integrations.webhooks.mapping import SLOW_OK, Recorded, maps_or_refuses

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "salesforce"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
SECRET = "b1f0c2a4e5d6"
NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
BASE_URL = "https://awu.example.com/api/v1/hooks/salesforce/emea"
CONFIG: dict[str, Any] = {"organization_id": "00D000000000062EAA"}


def delivery(body: bytes, *, token: str | None = SECRET) -> Delivery:
    url = BASE_URL if token is None else f"{BASE_URL}?token={token}"
    headers = httpx.Headers({"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    return Delivery(body=body, headers=headers, url=url)


def edited(name: str, old: str, new: str) -> bytes:
    text = body_of(name).decode()
    assert old in text
    return text.replace(old, new).encode()


def events(mapped: Mapped) -> list[dict[str, Any]]:
    assert mapped.ignored is None
    return mapped.events


# Authentication


def test_token_in_the_endpoint_url_is_accepted() -> None:
    salesforce.verify(delivery(body_of("opportunity_stage_changed.xml")), [SECRET], NOW)


def test_repeated_token_is_refused() -> None:
    body = body_of("opportunity_stage_changed.xml")
    url = f"{BASE_URL}?token=guess&token={SECRET}"
    with pytest.raises(SignatureError, match="more than once"):
        salesforce.verify(Delivery(body=body, headers=httpx.Headers({}), url=url), [SECRET], NOW)


def test_message_from_another_org_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="not the configured organization_id"):
        salesforce.parse(
            delivery(body_of("opportunity_stage_changed.xml")),
            {"organization_id": "00D000000000099"},
        )


def test_fifteen_character_org_id_in_config_matches_the_eighteen_character_one() -> None:
    mapped = salesforce.parse(
        delivery(body_of("opportunity_stage_changed.xml")), {"organization_id": "00D000000000062"}
    )
    assert len(events(mapped)) == 2


def test_source_without_organization_id_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="organization_id is not set"):
        salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), {})


# Acknowledgement


def test_acknowledgement_is_a_soap_ack() -> None:
    response = salesforce.acknowledge(Mapped())
    assert response.status == 200
    assert response.content_type.startswith("text/xml")
    assert b"<Ack>true</Ack>" in response.body
    assert b"notificationsResponse" in response.body


def test_vendor_answers_with_the_soap_acknowledgement() -> None:
    assert salesforce.VENDOR.acknowledge is salesforce.acknowledge


# Mapping


def test_opportunity_stage_change_becomes_opportunity_stage_changed() -> None:
    first = events(salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), CONFIG))[0]
    assert first["type"] == "crm.opportunity.stage_changed"
    assert first["refs"] == {"deal": ["006000000000001AAA"]}
    assert first["subject"] == "salesforce:opportunity/006000000000001AAA"
    assert first["occurred_at"] == "2026-11-04T10:15:00Z"


def test_one_record_per_notification_with_the_notification_id() -> None:
    mapped = salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), CONFIG)
    assert [event["id"] for event in events(mapped)] == [
        "04l000000000001AAA",
        "04l000000000002AAA",
    ]


def test_previous_stage_field_gives_from_stage_and_both_orders() -> None:
    first = events(salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), CONFIG))[0]
    attributes = first["attributes"]
    assert attributes["from_stage"] == "Proposal/Price Quote"
    assert attributes["to_stage"] == "Negotiation/Review"
    assert attributes["from_order"] == 6
    assert attributes["to_order"] == 7
    assert attributes["stage_order"] == 7


def test_closed_won_is_won() -> None:
    won = events(salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), CONFIG))[1]
    assert won["attributes"]["won"] is True
    assert won["attributes"]["lost"] is False


def test_is_won_field_overrides_the_configured_won_stages() -> None:
    config = {**CONFIG, "won_stages": []}
    won = events(salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), config))[1]
    assert won["attributes"]["won"] is True


def test_closed_and_not_won_is_lost() -> None:
    body = edited(
        "opportunity_stage_changed.xml",
        "<sf:IsWon>true</sf:IsWon>",
        "<sf:IsWon>false</sf:IsWon>",
    )
    second = events(salesforce.parse(delivery(body), CONFIG))[1]
    assert second["attributes"]["lost"] is True
    assert second["attributes"]["won"] is False


def test_without_the_previous_stage_field_from_stage_is_unknown() -> None:
    mapped = salesforce.parse(
        delivery(body_of("opportunity_stage_changed.xml")),
        {**CONFIG, "previous_stage_field": "Prior_Stage__c"},
    )
    assert events(mapped)[0]["attributes"]["from_stage"] is None
    assert events(mapped)[0]["attributes"]["from_order"] is None


def test_last_modifier_is_the_actor() -> None:
    first = events(salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), CONFIG))[0]
    assert first["actor"] == "salesforce:005000000000001AAA"


def test_redelivery_yields_identical_records() -> None:
    first = salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), CONFIG)
    again = salesforce.parse(delivery(body_of("opportunity_stage_changed.xml")), CONFIG)
    assert first.events == again.events


def test_other_sobjects_are_ignored_and_counted() -> None:
    mapped = salesforce.parse(delivery(body_of("account_notification.xml")), CONFIG)
    assert mapped.events == []
    assert mapped.ignored == "sObjects not used: 1 Account"


def test_terminated_contract_cancels_the_signature_by_its_envelope() -> None:
    (cancelled,) = events(salesforce.parse(delivery(body_of("contract_terminated.xml")), CONFIG))
    assert cancelled["type"] == "contract.cancelled"
    assert cancelled["id"] == "04l000000000003AAA"
    assert cancelled["refs"] == {
        "envelope": ["93be49ab-1234-4d0b-9a5c-f752070d71ec", "salesforce:800000000000001AAA"]
    }
    assert cancelled["attributes"]["reason"] == "Terminated"
    assert cancelled["occurred_at"] == "2026-11-12T09:00:00Z"
    assert cancelled["subject"] == "salesforce:contract/800000000000001AAA"


def test_contract_in_another_status_is_ignored() -> None:
    body = edited("contract_terminated.xml", "<sf:Status>Terminated</sf:Status>", "")
    mapped = salesforce.parse(delivery(body), CONFIG)
    assert mapped.events == []
    assert mapped.ignored == "sObjects not used: 2 Contract not cancelled"


def test_opportunity_moved_to_a_cancelled_stage_is_also_a_cancellation() -> None:
    body = edited(
        "opportunity_stage_changed.xml",
        "<sf:StageName>Negotiation/Review</sf:StageName>",
        "<sf:StageName>Cancelled</sf:StageName>"
        "<sf:AWU_Envelope_Id__c>env-9</sf:AWU_Envelope_Id__c>",
    )
    first, cancelled, _ = events(salesforce.parse(delivery(body), CONFIG))
    assert first["type"] == "crm.opportunity.stage_changed"
    assert cancelled["type"] == "contract.cancelled"
    assert cancelled["id"] == "04l000000000001AAA:cancelled"
    assert cancelled["refs"] == {"envelope": ["env-9", "salesforce:006000000000001AAA"]}


def test_cancelled_statuses_are_configurable() -> None:
    config = {**CONFIG, "cancelled_statuses": ["Rescinded"]}
    body = edited("contract_terminated.xml", "Terminated", "Rescinded")
    (cancelled,) = events(salesforce.parse(delivery(body), config))
    assert cancelled["attributes"]["reason"] == "Rescinded"


def test_missing_stage_name_is_a_mapping_error() -> None:
    body = edited(
        "opportunity_stage_changed.xml",
        "<sf:StageName>Negotiation/Review</sf:StageName>",
        "",
    )
    with pytest.raises(MappingError, match=r"Notification\[0\]\.sObject\.StageName missing"):
        salesforce.parse(delivery(body), CONFIG)


def test_missing_last_modified_date_is_a_mapping_error() -> None:
    body = edited(
        "opportunity_stage_changed.xml",
        "<sf:LastModifiedDate>2026-11-04T11:30:00.000Z</sf:LastModifiedDate>",
        "",
    )
    with pytest.raises(MappingError, match=r"Notification\[1\]\.sObject\.LastModifiedDate"):
        salesforce.parse(delivery(body), CONFIG)


def test_malformed_xml_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="not well-formed XML"):
        salesforce.parse(delivery(b"<soapenv:Envelope"), CONFIG)


def test_json_body_is_a_mapping_error() -> None:
    with pytest.raises(MappingError):
        salesforce.parse(delivery(b'{"StageName": "Closed Won"}'), CONFIG)


def test_soap_envelope_without_notifications_is_a_mapping_error() -> None:
    body = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soapenv:Body/></soapenv:Envelope>"
    )
    with pytest.raises(MappingError, match="notifications missing"):
        salesforce.parse(delivery(body), CONFIG)


# Untrusted XML


def test_entity_expansion_is_refused_before_parsing() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<lolz>&lol2;</lolz>"
    )
    with pytest.raises(MappingError, match="DOCTYPE"):
        salesforce.parse(delivery(body), CONFIG)


def test_external_entity_is_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(MappingError, match="DOCTYPE"):
        salesforce.parse(delivery(body), CONFIG)


def test_doctype_hidden_in_utf16_is_refused() -> None:
    body = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r []><r/>'.encode("utf-16")
    with pytest.raises(MappingError, match="UTF-8"):
        salesforce.parse(delivery(body), CONFIG)


def test_declared_non_utf8_encoding_is_refused() -> None:
    body = b'<?xml version="1.0" encoding="cp037"?><r/>'
    with pytest.raises(MappingError, match="UTF-8 only"):
        salesforce.parse(delivery(body), CONFIG)


# Robustness


FIELD_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<&"), max_size=30
)
FIELDS = st.sampled_from(
    [
        "Negotiation/Review",
        "006000000000001AAA",
        "04l000000000001AAA",
        "2026-11-04T10:15:00.000Z",
        "true",
        "sf:Opportunity",
        "00D000000000062EAA",
        "Proposal/Price Quote",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(old=FIELDS, new=FIELD_VALUES)
def test_mutated_messages_map_or_raise_mapping_error(old: str, new: str) -> None:
    body = body_of("opportunity_stage_changed.xml").decode().replace(old, new).encode()
    maps_or_refuses(lambda: salesforce.parse(delivery(body), CONFIG))


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(cut=st.integers(0, 4000), noise=st.binary(max_size=40))
def test_truncated_or_noisy_messages_map_or_raise_mapping_error(cut: int, noise: bytes) -> None:
    body = body_of("opportunity_stage_changed.xml")
    maps_or_refuses(lambda: salesforce.parse(delivery(body[:cut] + noise + body[cut:]), CONFIG))


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(query=st.text(max_size=60))
def test_random_urls_only_ever_raise_signature_error(query: str) -> None:
    url = f"{BASE_URL}?{query}"
    try:
        salesforce.verify(Delivery(body=b"", headers=httpx.Headers({}), url=url), [SECRET], NOW)
    except SignatureError:
        return
    assert f"token={SECRET}" in url
