"""The generic JSON hook through POST /api/v1/hooks/generic/<source>, real database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from django.test import Client

from ledger.models import AuditEvent
from tests.integrations.webhooks import (
    answer,
    dead_letters,
    events_of,
    fixture,
    make_source,
    nothing_stored,
    post_hook,
    rfc3339,
    signed,
    stored,
    usage_of,
)

pytestmark = pytest.mark.django_db
SECRET = "deploy-bot-secret"
OLD_SECRET = "deploy-bot-old-secret"
SLUG = "deploy-bot"
NOW = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)


def deliver(
    client: Client,
    settings: Any,
    body: bytes,
    *,
    secret: str = SECRET,
    sent_at: datetime = NOW,
) -> Any:
    settings.AWU_NOW = rfc3339(NOW)
    headers = signed("generic", body, secret, now=sent_at).headers
    return post_hook(client, "generic", SLUG, body, headers)


@pytest.fixture
def source() -> Any:
    return make_source("generic", SLUG, SECRET, previous=OLD_SECRET)


def test_one_event_is_stored(client: Client, settings: Any, source: Any) -> None:
    response = deliver(client, settings, fixture("generic", "deploy_event.json"))
    assert response.status_code == 200, response.content
    assert stored(source) == [("deploy-4711-success", "deploy.succeeded")]
    assert events_of(source)[0].refs == {"commit": ["9f1c2e7"], "deploy": ["4711"]}


def test_one_usage_record_is_stored(client: Client, settings: Any, source: Any) -> None:
    response = deliver(client, settings, fixture("generic", "usage_record.json"))
    assert response.status_code == 200, response.content
    assert [u.external_id for u in usage_of(source)] == ["req-01J8Z3K4M5N6P7Q8R9S0T1U2V3"]


def test_a_mixed_batch_is_stored_whole(client: Client, settings: Any, source: Any) -> None:
    response = deliver(client, settings, fixture("generic", "batch.json"))
    assert response.status_code == 200, response.content
    assert stored(source) == [
        ("deploy-4711-success", "deploy.succeeded"),
        ("deploy-4712-rollback", "deploy.rolled_back"),
    ]
    assert [u.external_id for u in usage_of(source)] == ["ci-run-991-usage"]


def test_a_source_named_in_the_body_is_replaced_by_the_url(
    client: Client, settings: Any, source: Any
) -> None:
    record = orjson.loads(fixture("generic", "deploy_event.json"))
    record["source"] = "someone-else"
    deliver(client, settings, orjson.dumps(record))
    assert stored(source) == [("deploy-4711-success", "deploy.succeeded")]


def test_a_record_the_ledger_refuses_dead_letters_the_whole_delivery(
    client: Client, settings: Any, source: Any
) -> None:
    good = orjson.loads(fixture("generic", "deploy_event.json"))
    bad = {**good, "id": "broken", "occurred_at": "yesterday-ish"}
    response = deliver(client, settings, orjson.dumps([good, bad]))
    assert response.status_code == 202
    assert "occurred_at" in answer(response)["detail"]
    assert len(dead_letters(source)) == 1
    assert nothing_stored(source)


def test_a_team_a_delivery_names_first_is_recorded_as_created_by_its_source(
    client: Client, settings: Any, source: Any
) -> None:
    record = orjson.loads(fixture("generic", "deploy_event.json"))
    record["team"] = "brand-new-team"
    response = deliver(client, settings, orjson.dumps(record))
    assert response.status_code == 200, response.content
    row = AuditEvent.objects.get(action="team.created")
    assert row.after["slug"] == "brand-new-team"
    assert (row.actor_kind, row.actor, row.actor_id) == (
        "system",
        f"generic webhook, source {SLUG}",
        str(source.pk),
    )
