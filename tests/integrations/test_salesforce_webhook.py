"""Salesforce outbound messages through POST /api/v1/hooks/salesforce/<source>?token=...

Outbound messages cannot sign; the endpoint URL carries the secret token, and
Salesforce stops retrying only on a SOAP ``<Ack>true</Ack>``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.integrations.webhooks import (
    dead_letters,
    events_of,
    fixture,
    ignored_count,
    make_source,
    nothing_stored,
    post_hook,
)

pytestmark = pytest.mark.django_db
SECRET = "b1f0c2a4e5d6"
OLD_SECRET = "0a1b2c3d4e5f"
SLUG = "emea"
ORG = "00D000000000062EAA"
SOAP = "text/xml; charset=utf-8"


def deliver(client: Client, settings: Any, body: bytes, *, token: str | None = SECRET) -> Any:
    settings.AWU_NOW = "2026-11-04T12:00:00Z"
    return post_hook(
        client,
        "salesforce",
        SLUG,
        body,
        {"SOAPAction": '""'},
        query=f"token={token}" if token is not None else "",
        content_type=SOAP,
    )


@pytest.fixture
def source() -> Any:
    return make_source(
        "salesforce", SLUG, SECRET, previous=OLD_SECRET, config={"organization_id": ORG}
    )


def test_opportunity_stage_change_is_stored_and_acknowledged_in_soap(
    client: Client, settings: Any, source: Any
) -> None:
    response = deliver(client, settings, fixture("salesforce", "opportunity_stage_changed.xml"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Ack>true</Ack>" in response.content
    events = events_of(source)
    # The recorded message carries two notifications, one event each, keyed by Id.
    assert [(event.external_id, event.type) for event in events] == [
        ("04l000000000001AAA", "crm.opportunity.stage_changed"),
        ("04l000000000002AAA", "crm.opportunity.stage_changed"),
    ]
    assert all("deal" in event.refs for event in events)


def test_notification_for_another_sobject_is_acknowledged_and_ignored(
    client: Client, settings: Any, source: Any
) -> None:
    response = deliver(client, settings, fixture("salesforce", "account_notification.xml"))
    assert response.status_code == 200
    assert b"<Ack>true</Ack>" in response.content
    assert ignored_count(source) == 1
    assert nothing_stored(source)


@pytest.mark.parametrize("token", ["wrong", None])
def test_wrong_or_missing_token_is_refused_and_nothing_is_stored(
    client: Client, settings: Any, source: Any, token: str | None
) -> None:
    body = fixture("salesforce", "opportunity_stage_changed.xml")
    response = deliver(client, settings, body, token=token)
    assert response.status_code == 401
    assert nothing_stored(source)


def test_retried_message_is_stored_once(client: Client, settings: Any, source: Any) -> None:
    body = fixture("salesforce", "opportunity_stage_changed.xml")
    deliver(client, settings, body)
    again = deliver(client, settings, body)
    assert again.status_code == 200
    assert len(events_of(source)) == 2


def test_authentic_garbage_becomes_a_dead_letter_and_is_acknowledged(
    client: Client, settings: Any, source: Any
) -> None:
    response = deliver(client, settings, b"<soapenv:Envelope")
    # Salesforce retries anything but its SOAP Ack for a day; the delivery is kept.
    assert response.status_code == 200
    assert b"<Ack>true</Ack>" in response.content
    assert len(dead_letters(source)) == 1
    assert nothing_stored(source)


def test_message_from_another_org_becomes_a_dead_letter(client: Client, settings: Any) -> None:
    source = make_source("salesforce", SLUG, SECRET, config={"organization_id": "00Dsomeoneelse"})
    response = deliver(client, settings, fixture("salesforce", "opportunity_stage_changed.xml"))
    assert b"<Ack>true</Ack>" in response.content
    assert len(dead_letters(source)) == 1
    assert nothing_stored(source)


@pytest.mark.parametrize("token", [SECRET, OLD_SECRET])
def test_both_live_tokens_verify_during_rotation(
    client: Client, settings: Any, source: Any, token: str
) -> None:
    body = fixture("salesforce", "opportunity_stage_changed.xml")
    assert deliver(client, settings, body, token=token).status_code == 200
