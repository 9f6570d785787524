"""The admin page of actors no Identity maps yet, and its one-click mapping."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from ledger import ingest
from ledger.models import Identity, Person, Source

pytestmark = pytest.mark.django_db
PAGE = "/admin/integrations/unmappedactor/"
MAP = "/admin/integrations/unmappedactor/map/"
NOW = "2026-11-02T12:00:00Z"


@pytest.fixture(autouse=True)
def ledger_with_actors(settings: Any) -> None:
    settings.AWU_NOW = NOW
    from ledger import clock

    now = clock.now()
    api = Source.objects.create(kind="api", slug="deploy-bot")
    events = [
        {"source": "deploy-bot", "id": f"e{n}", "type": "deploy.succeeded",
         "occurred_at": f"2026-11-0{day}T10:00:00Z", "actor": actor}
        for n, (day, actor) in enumerate(
            [(1, "github:octocat"), (2, "github:octocat"), (1, "alice@example.com"),
             (1, "mapped@example.com")]
        )
    ]  # fmt: skip
    ingest.events_ingest(items=events, now=now, source_id=api.pk)
    usage = {
        "source": "deploy-bot", "id": "u1", "occurred_at": "2026-11-01T11:00:00Z",
        "actor": "alice@example.com", "provider": "anthropic", "model": "claude-opus-4-5",
        "input_tokens": 1, "output_tokens": 1, "cost_usd": "0.01",
    }  # fmt: skip
    ingest.usage_ingest(items=[usage], now=now, source_id=api.pk)
    person = Person.objects.create(name="Mapped", email="mapped@example.com")
    Identity.objects.create(value="mapped@example.com", person=person)


def test_page_lists_unmapped_actors_with_counts_and_last_seen(admin_client: Client) -> None:
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    rows = {row["actor"]: row for row in response.context["rows"]}
    assert set(rows) == {"github:octocat", "alice@example.com"}
    assert (rows["github:octocat"]["events"], rows["github:octocat"]["usage_records"]) == (2, 0)
    assert (rows["alice@example.com"]["events"], rows["alice@example.com"]["usage_records"]) == (
        1,
        1,
    )
    assert rows["github:octocat"]["last_seen"].isoformat() == "2026-11-02T10:00:00+00:00"
    assert b"mapped@example.com" not in response.content


def test_each_row_links_to_the_identity_form_with_the_value_filled_in(
    admin_client: Client,
) -> None:
    response = admin_client.get(PAGE)
    assert b"/admin/ledger/identity/add/?value=github%3Aoctocat" in response.content
    form = admin_client.get("/admin/ledger/identity/add/?value=github%3Aoctocat")
    assert form.context["adminform"].form.initial["value"] == "github:octocat"


def test_one_post_creates_a_person_and_maps_the_actor(admin_client: Client) -> None:
    response = admin_client.post(MAP, {"actor": "github:octocat"}, follow=True)
    assert response.status_code == 200
    identity = Identity.objects.get(value="github:octocat")
    assert identity.person.name == "github:octocat"
    assert "github:octocat" not in {row["actor"] for row in response.context["rows"]}


def test_an_email_actor_maps_to_the_person_who_has_that_email(admin_client: Client) -> None:
    alice = Person.objects.create(name="Alice", email="alice@example.com")
    admin_client.post(MAP, {"actor": "alice@example.com"})
    assert Identity.objects.get(value="alice@example.com").person == alice
    assert Person.objects.filter(email="alice@example.com").count() == 1


def test_mapping_twice_keeps_one_person(admin_client: Client) -> None:
    admin_client.post(MAP, {"actor": "github:octocat"})
    admin_client.post(MAP, {"actor": "github:octocat"})
    assert Person.objects.filter(name="github:octocat").count() == 1


def test_the_page_needs_a_staff_login(client: Client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    client.post(MAP, {"actor": "github:octocat"})
    assert not Identity.objects.filter(value="github:octocat").exists()
