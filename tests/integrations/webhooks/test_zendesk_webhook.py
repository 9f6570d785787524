"""Zendesk deliveries through POST /api/v1/hooks/zendesk/<source>, real database."""

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
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
OLD_SECRET = "b2xkX3NlY3JldF9mb3Jfcm90YXRpb24="
SLUG = "support"
# After every recorded delivery (the reopening is dated 2026-11-06).
NOW = datetime(2026, 11, 6, 9, 5, tzinfo=UTC)


def deliver(
    client: Client,
    settings: Any,
    body: bytes,
    *,
    secret: str = SECRET,
    sent_at: datetime = NOW,
) -> Any:
    settings.AWU_NOW = rfc3339(NOW)
    headers = signed("zendesk", body, secret, now=sent_at).headers
    return post_hook(client, "zendesk", SLUG, body, headers)


@pytest.fixture
def source() -> Any:
    return make_source("zendesk", SLUG, SECRET, previous=OLD_SECRET)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ticket_solved.json", [("cbe4028c-7239-495d-b020-f22348516046", "ticket.resolved")]),
        ("ticket_reopened.json", [("6f0e2a55-1b2c-4f3d-8e9a-0c1d2e3f4a5b", "ticket.reopened")]),
        ("trigger_solved.json", [("ticket.resolved:5158:2026-11-04T10:55:14Z", "ticket.resolved")]),
    ],
)
def test_each_recorded_delivery_is_stored_as_its_canonical_event(
    client: Client, settings: Any, source: Any, name: str, expected: list[tuple[str, str]]
) -> None:
    response = deliver(client, settings, fixture("zendesk", name))
    assert response.status_code == 200, response.content
    assert stored(source) == expected
    assert events_of(source)[0].refs == {"ticket": ["zendesk:5158"]}
