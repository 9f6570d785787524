"""Dead letters: kept with the delivery, shown in the admin, replayed after a fix."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from integrations.models import DeadLetter
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
SECRET = "It's a Secret to Everybody"
CHANGELIST = "/admin/integrations/deadletter/"


def github_delivery(client: Client, body: bytes, delivery: str = "d-1") -> Any:
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        **signed("github", body, SECRET).headers,
    }
    return post_hook(client, "github", "acme", body, headers)


def replay(admin_client: Client, *letters: DeadLetter) -> Any:
    return admin_client.post(
        CHANGELIST,
        {"action": "replay", "_selected_action": [letter.pk for letter in letters]},
        follow=True,
    )


@pytest.fixture
def github() -> Any:
    return make_source("github", "acme", SECRET)


def test_dead_letter_is_listed_in_the_admin_with_its_error(
    client: Client, admin_client: Client, github: Any
) -> None:
    github_delivery(client, b"{truncated")
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"body is not valid JSON" in page.content
    (letter,) = dead_letters(github)
    detail = admin_client.get(f"{CHANGELIST}{letter.pk}/change/")
    assert detail.status_code == 200
    assert b"{truncated" in detail.content


def test_replaying_a_repaired_dead_letter_stores_its_events(
    client: Client, admin_client: Client, github: Any
) -> None:
    github_delivery(client, b"{truncated")
    (letter,) = dead_letters(github)
    # The repair: the delivery's real body (as re-fetched from GitHub's delivery log).
    DeadLetter.objects.filter(pk=letter.pk).update(
        body=fixture("github", "pull_request.merged.json")
    )
    page = replay(admin_client, letter)
    assert b"1 stored, 0 still failing" in page.content
    assert [(e.external_id, e.type) for e in events_of(github)] == [("d-1", "code.pr.merged")]
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    assert "stored" in letter.replay_result


def test_replaying_twice_stores_the_records_once(
    client: Client, admin_client: Client, github: Any
) -> None:
    github_delivery(client, b"{truncated")
    (letter,) = dead_letters(github)
    DeadLetter.objects.filter(pk=letter.pk).update(
        body=fixture("github", "pull_request.merged.json")
    )
    replay(admin_client, letter)
    replay(admin_client, letter)
    assert len(events_of(github)) == 1


def test_a_dead_letter_that_still_fails_is_kept_once(
    client: Client, admin_client: Client, github: Any
) -> None:
    github_delivery(client, b"{truncated")
    (letter,) = dead_letters(github)
    page = replay(admin_client, letter)
    assert b"0 stored, 1 still failing" in page.content
    assert dead_letters(github) == [letter]
    letter.refresh_from_db()
    assert letter.replay_result.startswith("still failing")
    assert nothing_stored(github)


def test_a_delivery_refused_for_missing_config_stores_after_the_config_is_fixed(
    client: Client, admin_client: Client, settings: Any
) -> None:
    settings.AWU_NOW = "2026-11-04T12:00:00Z"
    salesforce = make_source("salesforce", "emea", "b1f0c2a4e5d6")  # no organization_id yet
    response = post_hook(
        client,
        "salesforce",
        "emea",
        fixture("salesforce", "opportunity_stage_changed.xml"),
        {},
        query="token=b1f0c2a4e5d6",
        content_type="text/xml; charset=utf-8",
    )
    assert b"<Ack>true</Ack>" in response.content  # kept, so acknowledged
    (letter,) = dead_letters(salesforce)
    assert "organization_id" in letter.error
    salesforce.config = {"organization_id": "00D000000000062EAA"}
    salesforce.save()
    replay(admin_client, letter)
    assert len(events_of(salesforce)) == 2


def test_a_dead_letter_keeps_no_credentials(client: Client, github: Any) -> None:
    body = b"{truncated"
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "d-2",
        **signed("github", body, SECRET).headers,
        "Authorization": "Basic c2VjcmV0",
        "Cookie": "session=abc",
    }
    post_hook(client, "github", "acme", body, headers)
    (letter,) = dead_letters(github)
    kept = {name.lower() for name in letter.headers}
    assert "authorization" not in kept
    assert "cookie" not in kept


def test_dead_letters_cannot_be_added_by_hand(admin_client: Client, github: Any) -> None:
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
