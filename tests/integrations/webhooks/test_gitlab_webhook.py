"""GitLab deliveries through POST /api/v1/hooks/gitlab/<source>, real database."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
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
    stored,
)

pytestmark = pytest.mark.django_db
SECRET = "gl-hook-token-1"
OLD_SECRET = "gl-hook-token-0"
SLUG = "acme-gitlab"
KEY = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"


def headers(event: str, body: bytes, *, token: str = SECRET, key: str = KEY) -> dict[str, str]:
    # GitLab sends the secret token verbatim, and an Idempotency-Key kept across retries.
    return {
        "X-Gitlab-Event": event,
        "Idempotency-Key": key,
        **signed("gitlab", body, token).headers,
    }


def deliver(client: Client, event: str, body: bytes, **options: Any) -> Any:
    return post_hook(client, "gitlab", SLUG, body, headers(event, body, **options))


@pytest.fixture
def source() -> Any:
    return make_source("gitlab", SLUG, SECRET, previous=OLD_SECRET)


@pytest.mark.parametrize(
    ("event", "name", "expected"),
    [
        ("Merge Request Hook", "merge_request.merge.json", [(KEY, "code.pr.merged")]),
        (
            "Push Hook",
            "push.revert.json",
            [(f"{KEY}:revert:3f2a9c7e1b5d4a6f8e0c2b4d6f8a0c1e3b5d7f92", "code.reverted")],
        ),
        ("Deployment Hook", "deployment.success.json", [(KEY, "deploy.succeeded")]),
        ("Deployment Hook", "deployment.failed.json", [(KEY, "deploy.failed")]),
    ],
)
def test_each_recorded_delivery_is_stored_as_its_canonical_events(
    client: Client, source: Any, event: str, name: str, expected: list[tuple[str, str]]
) -> None:
    response = deliver(client, event, fixture("gitlab", name))
    assert response.status_code == 200, response.content
    assert stored(source) == expected


def test_merged_merge_request_keeps_its_pr_ref(client: Client, source: Any) -> None:
    deliver(client, "Merge Request Hook", fixture("gitlab", "merge_request.merge.json"))
    (event,) = events_of(source)
    assert event.refs["pr"] == ["gitlabhq/gitlab-test!1"]
    assert "da1560886d4f094c3e6c9ef40349f7d38b5d27d7" in event.refs["commit"]


def test_authentic_garbage_becomes_a_dead_letter_without_the_token(
    client: Client, source: Any
) -> None:
    response = deliver(client, "Merge Request Hook", b"\x00\x01 not json")
    assert response.status_code == 202
    (letter,) = dead_letters(source)
    # The token is the credential itself: it is not kept with the letter.
    assert not any(name.lower() == "x-gitlab-token" for name in letter.headers)
    assert nothing_stored(source)


# --- Signing tokens (webhook-signature, the Standard Webhooks form) ------------------

SIGNING_KEY = bytes(range(32))
SIGNING_TOKEN = "whsec_" + base64.b64encode(SIGNING_KEY).decode()
OLD_SIGNING_TOKEN = "whsec_" + base64.b64encode(bytes(range(32, 64))).decode()


def signed_headers(
    event: str, body: bytes, *, key: bytes = SIGNING_KEY, age: timedelta = timedelta(0)
) -> dict[str, str]:
    token = "whsec_" + base64.b64encode(key).decode()
    sent = signed("gitlab", body, token, now=datetime.now(UTC) - age)
    return {"X-Gitlab-Event": event, "Idempotency-Key": KEY, **sent.headers}


@pytest.fixture
def signed_source() -> Any:
    return make_source("gitlab", SLUG, SIGNING_TOKEN, previous=OLD_SIGNING_TOKEN)


def test_a_delivery_signed_with_the_signing_token_is_stored(
    client: Client, signed_source: Any
) -> None:
    body = fixture("gitlab", "merge_request.merge.json")
    response = post_hook(client, "gitlab", SLUG, body, signed_headers("Merge Request Hook", body))
    assert response.status_code == 200, response.content
    assert stored(signed_source) == [(KEY, "code.pr.merged")]


def test_the_previous_signing_token_still_verifies_during_rotation(
    client: Client, signed_source: Any
) -> None:
    body = fixture("gitlab", "merge_request.merge.json")
    headers = signed_headers("Merge Request Hook", body, key=bytes(range(32, 64)))
    assert post_hook(client, "gitlab", SLUG, body, headers).status_code == 200


def test_a_changed_body_fails_the_signature(client: Client, signed_source: Any) -> None:
    body = fixture("gitlab", "merge_request.merge.json")
    headers = signed_headers("Merge Request Hook", body)
    response = post_hook(client, "gitlab", SLUG, body.replace(b"merge", b"merga", 1), headers)
    assert response.status_code == 401
    assert nothing_stored(signed_source)


def test_a_signed_delivery_older_than_the_tolerance_is_refused_as_a_replay(
    client: Client, signed_source: Any
) -> None:
    body = fixture("gitlab", "merge_request.merge.json")
    headers = signed_headers("Merge Request Hook", body, age=timedelta(minutes=6))
    response = post_hook(client, "gitlab", SLUG, body, headers)
    assert response.status_code == 401
    assert b"replay" in response.content
    assert nothing_stored(signed_source)


def test_with_a_signing_token_the_plain_token_header_is_not_enough(
    client: Client, signed_source: Any
) -> None:
    body = fixture("gitlab", "merge_request.merge.json")
    plain = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": SIGNING_TOKEN}
    response = post_hook(client, "gitlab", SLUG, body, plain)
    assert response.status_code == 401
    assert nothing_stored(signed_source)
