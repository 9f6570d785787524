"""HubSpot deliveries through POST /api/v1/hooks/hubspot/<source>, real database.

The v3 signature covers method, the URL HubSpot called, the body and the
timestamp; the test client's URL is ``http://testserver/...``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from tests.integrations.webhooks import (
    events_of,
    fixture,
    make_source,
    post_hook,
    rfc3339,
    signed,
    stored,
)

pytestmark = pytest.mark.django_db
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
OLD_SECRET = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
SLUG = "emea"
NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
URL = f"http://testserver/api/v1/hooks/hubspot/{SLUG}"


def headers(body: bytes, *, secret: str, sent_at: datetime) -> dict[str, str]:
    return signed("hubspot", body, secret, now=sent_at, url=URL).headers


def deliver(
    client: Client,
    settings: Any,
    body: bytes,
    *,
    secret: str = SECRET,
    sent_at: datetime = NOW,
) -> Any:
    settings.AWU_NOW = rfc3339(NOW)
    return post_hook(client, "hubspot", SLUG, body, headers(body, secret=secret, sent_at=sent_at))


@pytest.fixture
def source() -> Any:
    return make_source("hubspot", SLUG, SECRET, previous=OLD_SECRET)


def test_deal_stage_changes_are_stored_one_event_each(
    client: Client, settings: Any, source: Any
) -> None:
    response = deliver(client, settings, fixture("hubspot", "deal_stage_changes.json"))
    assert response.status_code == 200, response.content
    assert stored(source) == [
        ("4213871001", "crm.opportunity.stage_changed"),
        ("4213871002", "crm.opportunity.stage_changed"),
    ]
    assert [event.refs for event in events_of(source)] == [
        {"deal": ["9876543210"]},
        {"deal": ["9876543211"]},
    ]


def test_stage_order_comes_from_the_source_config(client: Client, settings: Any) -> None:
    source = make_source(
        "hubspot",
        SLUG,
        SECRET,
        config={"stages": ["contractsent", "closedwon"]},
    )
    deliver(client, settings, fixture("hubspot", "deal_stage_changes.json"))
    # contractsent is 5th in HubSpot's default pipeline, 1st in this source's.
    assert [event.attributes["stage_order"] for event in events_of(source)] == [0, 1]
