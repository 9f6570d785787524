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
    make_source,
    nothing_stored,
    post_hook,
    signed,
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
        query=signed("salesforce", body, token).query if token is not None else "",
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


def test_message_from_another_org_becomes_a_dead_letter(client: Client, settings: Any) -> None:
    source = make_source("salesforce", SLUG, SECRET, config={"organization_id": "00Dsomeoneelse"})
    response = deliver(client, settings, fixture("salesforce", "opportunity_stage_changed.xml"))
    assert b"<Ack>true</Ack>" in response.content
    assert len(dead_letters(source)) == 1
    assert nothing_stored(source)
