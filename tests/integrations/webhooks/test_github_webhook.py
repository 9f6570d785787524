"""GitHub deliveries through POST /api/v1/hooks/github/<source>, real database."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.integrations.webhooks import (
    answer,
    dead_letters,
    events_of,
    fixture,
    ignored_count,
    make_source,
    nothing_stored,
    post_hook,
    signed,
    stored,
)

pytestmark = pytest.mark.django_db
SECRET = "It's a Secret to Everybody"
OLD_SECRET = "the-secret-before-rotation"
SLUG = "acme"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def headers(
    event: str, body: bytes, *, secret: str = SECRET, delivery: str = DELIVERY
) -> dict[str, str]:
    # What GitHub sends: the event name, the delivery GUID (unchanged on redelivery)
    # and the HMAC-SHA256 of the raw body under the webhook secret.
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        **signed("github", body, secret).headers,
    }


def deliver(client: Client, event: str, body: bytes, **options: Any) -> Any:
    return post_hook(client, "github", SLUG, body, headers(event, body, **options))


@pytest.fixture
def source() -> Any:
    return make_source("github", SLUG, SECRET, previous=OLD_SECRET)


@pytest.mark.parametrize(
    ("event", "name", "expected"),
    [
        ("pull_request", "pull_request.merged.json", [(DELIVERY, "code.pr.merged")]),
        (
            "push",
            "push.revert.json",
            [(f"{DELIVERY}:revert:b1e4a3a37b3d2a0e7c5c7d0e8f2b4c6a9d1e3f50", "code.reverted")],
        ),
        ("deployment_status", "deployment_status.success.json", [(DELIVERY, "deploy.succeeded")]),
        ("deployment_status", "deployment_status.failure.json", [(DELIVERY, "deploy.failed")]),
        (
            "deployment_status",
            "deployment_status.rollback.json",
            [(DELIVERY, "deploy.rolled_back")],
        ),
    ],
)
def test_each_recorded_delivery_is_stored_as_its_canonical_events(
    client: Client, source: Any, event: str, name: str, expected: list[tuple[str, str]]
) -> None:
    response = deliver(client, event, fixture("github", name))
    assert response.status_code == 200, response.content
    assert answer(response)["status"] == "stored"
    assert stored(source) == expected


def test_merged_pull_request_keeps_its_pr_and_commit_refs(client: Client, source: Any) -> None:
    deliver(client, "pull_request", fixture("github", "pull_request.merged.json"))
    (event,) = events_of(source)
    assert event.refs["pr"] == ["Codertocat/Hello-World#2"]
    assert "c4295bd74fb0f4fda03689c3df3f2803b658fd85" in event.refs["commit"]
    assert "pr:Codertocat/Hello-World#2" in event.ref_keys
    assert event.actor == "github:Codertocat"


def test_unknown_event_kind_is_ignored_and_counted(client: Client, source: Any) -> None:
    body = fixture("github", "pull_request.merged.json")
    response = deliver(client, "issues", body)
    response_again = deliver(client, "issues", body, delivery="another-delivery")
    assert response.status_code == response_again.status_code == 200
    assert answer(response)["status"] == "ignored"
    assert ignored_count(source) == 2
    assert nothing_stored(source)


def test_dead_letter_keeps_the_raw_body_and_the_signature_header(
    client: Client, source: Any
) -> None:
    response = deliver(client, "pull_request", b"{not json")
    assert response.status_code == 202
    body = answer(response)
    assert body["status"] == "dead_letter"
    (letter,) = dead_letters(source)
    assert body["dead_letter"] == letter.pk
    assert bytes(letter.body) == b"{not json"
    assert "X-Hub-Signature-256" in letter.headers
    assert nothing_stored(source)


def test_expired_previous_secret_no_longer_verifies(client: Client) -> None:
    source = make_source("github", SLUG, SECRET)  # rotated without keeping the old one
    body = fixture("github", "pull_request.merged.json")
    response = deliver(client, "pull_request", body, secret=OLD_SECRET)
    assert response.status_code == 401
    assert nothing_stored(source)


def test_unknown_source_is_not_found(client: Client) -> None:
    body = fixture("github", "ping.json")
    response = post_hook(client, "github", "nobody", body, headers("ping", body))
    assert response.status_code == 404
