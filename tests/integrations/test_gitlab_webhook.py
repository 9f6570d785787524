"""GitLab deliveries through POST /api/v1/hooks/gitlab/<source>, real database."""

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
    stored,
)

pytestmark = pytest.mark.django_db
SECRET = "gl-hook-token-1"
OLD_SECRET = "gl-hook-token-0"
SLUG = "acme-gitlab"
KEY = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"


def headers(event: str, *, token: str = SECRET, key: str = KEY) -> dict[str, str]:
    # GitLab sends the secret token verbatim, and an Idempotency-Key kept across retries.
    return {"X-Gitlab-Event": event, "X-Gitlab-Token": token, "Idempotency-Key": key}


def deliver(client: Client, event: str, body: bytes, **options: Any) -> Any:
    return post_hook(client, "gitlab", SLUG, body, headers(event, **options))


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
