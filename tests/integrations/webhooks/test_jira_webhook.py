"""Jira Cloud deliveries through POST /api/v1/hooks/jira/<source>, real database."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.integrations.webhooks import (
    events_of,
    fixture,
    make_source,
    post_hook,
    signed,
    stored,
)

pytestmark = pytest.mark.django_db
SECRET = "jira-admin-webhook-secret"
OLD_SECRET = "jira-admin-webhook-secret-old"
SLUG = "support"


def headers(body: bytes, identifier: str, *, secret: str = SECRET) -> dict[str, str]:
    return {
        **signed("jira", body, secret).headers,
        "X-Atlassian-Webhook-Identifier": identifier,
    }


def deliver(client: Client, name_or_body: str | bytes, identifier: str, **options: Any) -> Any:
    body = fixture("jira", name_or_body) if isinstance(name_or_body, str) else name_or_body
    return post_hook(client, "jira", SLUG, body, headers(body, identifier, **options))


@pytest.fixture
def source() -> Any:
    return make_source(
        "jira", SLUG, SECRET, previous=OLD_SECRET, config={"support_projects": ["SUP"]}
    )


@pytest.mark.parametrize(
    ("name", "expected_type"),
    [
        ("issue_updated.resolved.json", "ticket.resolved"),
        ("issue_updated.reopened.json", "ticket.reopened"),
    ],
)
def test_each_recorded_delivery_is_stored_as_its_canonical_event(
    client: Client, source: Any, name: str, expected_type: str
) -> None:
    response = deliver(client, name, "1606480436302-10124")
    assert response.status_code == 200, response.content
    assert stored(source) == [("1606480436302-10124", expected_type)]
    (event,) = events_of(source)
    assert event.refs == {"ticket": ["SUP-4"]}


def test_source_config_sets_the_domain_of_a_support_project(client: Client, source: Any) -> None:
    deliver(client, "issue_updated.resolved.json", "1")
    (event,) = events_of(source)
    assert event.attributes["domain"] == "support"
