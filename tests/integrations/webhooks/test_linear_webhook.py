"""Linear deliveries through POST /api/v1/hooks/linear/<source>, real database.

Linear signs the body, which carries ``webhookTimestamp``; the clock is pinned to
the recorded delivery's send time so the replay window applies as in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
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
SECRET = "lin_wh_signing_secret"
OLD_SECRET = "lin_wh_signing_secret_old"
SLUG = "eng"
DELIVERY = "234d1a4e-b617-4388-90fe-adc3633d6b72"


def sent_at(body: bytes) -> datetime:
    return datetime.fromtimestamp(orjson.loads(body)["webhookTimestamp"] / 1000, tz=UTC)


def deliver(
    client: Client,
    settings: Any,
    body: bytes,
    *,
    secret: str = SECRET,
    delivery: str = DELIVERY,
    late_by: timedelta = timedelta(seconds=2),
) -> Any:
    try:
        settings.AWU_NOW = rfc3339(sent_at(body) + late_by)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        settings.AWU_NOW = "2023-02-10T19:22:22Z"
    headers = {
        **signed("linear", body, secret).headers,
        "Linear-Delivery": delivery,
        "Linear-Event": "Issue",
    }
    return post_hook(client, "linear", SLUG, body, headers)


@pytest.fixture
def source() -> Any:
    return make_source("linear", SLUG, SECRET, previous=OLD_SECRET)


@pytest.mark.parametrize(
    ("name", "expected_type"),
    [
        ("issue.update.completed.json", "ticket.resolved"),
        ("issue.update.reopened.json", "ticket.reopened"),
    ],
)
def test_each_recorded_delivery_is_stored_as_its_canonical_event(
    client: Client, settings: Any, source: Any, name: str, expected_type: str
) -> None:
    response = deliver(client, settings, fixture("linear", name))
    assert response.status_code == 200, response.content
    assert stored(source) == [(DELIVERY, expected_type)]
    assert events_of(source)[0].refs == {"ticket": ["LIN-1778"]}
