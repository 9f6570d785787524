"""GitLab deliveries through POST /api/v1/hooks/gitlab/<source>, real database."""

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


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("Merge Request Hook", "merge_request.open.json"),
        ("Pipeline Hook", "pipeline.json"),
        ("Push Hook", "push.json"),
    ],
)
def test_deliveries_that_record_nothing_are_acknowledged_and_counted(
    client: Client, source: Any, event: str, name: str
) -> None:
    response = deliver(client, event, fixture("gitlab", name))
    assert response.status_code == 200
    assert answer(response)["status"] == "ignored"
    assert ignored_count(source) == 1
    assert nothing_stored(source)


def test_unknown_event_kind_is_ignored_and_counted(client: Client, source: Any) -> None:
    response = deliver(client, "Issue Hook", fixture("gitlab", "push.json"))
    assert response.status_code == 200
    assert answer(response)["status"] == "ignored"
    assert ignored_count(source) == 1
    assert nothing_stored(source)


def test_wrong_token_is_refused_and_nothing_is_stored(client: Client, source: Any) -> None:
    body = fixture("gitlab", "merge_request.merge.json")
    response = deliver(client, "Merge Request Hook", body, token="guess")
    assert response.status_code == 401
    assert nothing_stored(source)
    assert not dead_letters(source)


def test_retried_delivery_is_answered_duplicate_and_stored_once(
    client: Client, source: Any
) -> None:
    body = fixture("gitlab", "merge_request.merge.json")
    deliver(client, "Merge Request Hook", body)
    again = deliver(client, "Merge Request Hook", body)
    assert answer(again)["events"][0]["status"] == "duplicate"
    assert len(events_of(source)) == 1


def test_authentic_garbage_becomes_a_dead_letter_without_the_token(
    client: Client, source: Any
) -> None:
    response = deliver(client, "Merge Request Hook", b"\x00\x01 not json")
    assert response.status_code == 202
    (letter,) = dead_letters(source)
    # The token is the credential itself: it is not kept with the letter.
    assert not any(name.lower() == "x-gitlab-token" for name in letter.headers)
    assert nothing_stored(source)


@pytest.mark.parametrize("token", [SECRET, OLD_SECRET])
def test_both_live_tokens_verify_during_rotation(client: Client, source: Any, token: str) -> None:
    body = fixture("gitlab", "deployment.success.json")
    assert deliver(client, "Deployment Hook", body, token=token).status_code == 200
    assert len(events_of(source)) == 1
