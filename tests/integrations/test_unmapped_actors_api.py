"""GET /api/v1/unmapped-actors and POST /api/v1/unmapped-actors/map, with proposals
made from webhook deliveries that give a login together with a known email."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from django.test import Client

from integrations.models import ActorProposal
from ledger import directory
from ledger.models import Identity, Person
from tests.awu.reports import build
from tests.conftest import Api
from tests.integrations.webhooks import fixture, make_source, post_hook, signed

pytestmark = pytest.mark.django_db
URL = "/api/v1/unmapped-actors"
MAP = "/api/v1/unmapped-actors/map"
SECRET = "gh-secret"
CODERTOCAT_EMAIL = "21031067+Codertocat@users.noreply.github.com"


@pytest.fixture(autouse=True)
def _clock(settings: Any) -> None:
    settings.AWU_NOW = "2026-03-20T12:00:00Z"


@pytest.fixture
def w(api: Callable[..., Api]) -> Api:
    return api("directory:write")


@pytest.fixture
def ledger() -> None:
    """octocat: an event, a unit of 3 AWUs and $6 of spend; bob@: unpriced spend only."""
    version = build.definition()
    build.event(actor="github:octocat", occurred_at=build.at(1))
    unit = build.unit(version, units="3", triggered_at=build.at(2))
    type(unit).objects.filter(pk=unit.pk).update(actor="github:octocat")
    build.usage(actor="github:octocat", cost="6.00", occurred_at=build.at(3))
    build.usage(actor="bob@example.com", cost=None, occurred_at=build.at(4))


def _rows(reader: Api, **params: Any) -> dict[str, dict[str, Any]]:
    response = reader.get(URL, params)
    assert response.status_code == 200, response.content
    return {row["actor"]: row for row in response.json()["results"]}


def test_unmapped_actors_show_what_they_carry(api: Callable[..., Api], ledger: None) -> None:
    rows = _rows(api("directory:read"), since="2026-03-01")
    octocat = rows["github:octocat"]
    assert octocat["events"] == 1
    assert octocat["usage_records"] == 1
    assert octocat["spend_usd"] == "6.000000000"
    assert (octocat["work_units"], octocat["awus_completed"]) == (1, "3.000000")
    assert octocat["first_seen"].startswith("2026-03-01")
    assert octocat["last_seen"].startswith("2026-03-03")
    assert rows["bob@example.com"]["unpriced_records"] == 1
    assert list(_rows(api("directory:read"), since="2026-03-01", limit=1)) == ["github:octocat"]


def test_reading_needs_a_directory_scope(api: Callable[..., Api]) -> None:
    assert api("reports:read").get(URL).status_code == 403
    assert api("directory:read").post(MAP, {"actor": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("params", "field"), [({"since": "last week"}, "since"), ({"limit": "0"}, "limit")]
)
def test_bad_parameters_are_refused_by_name(w: Api, params: dict[str, str], field: str) -> None:
    response = w.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_mapping_to_a_person_takes_the_actor_off_the_list(w: Api, ledger: None) -> None:
    ann = Person.objects.create(name="Ann")
    response = w.post(MAP, {"actor": "github:octocat", "person": ann.pk})
    assert response.status_code == 201, response.content
    assert response.json()["person"] == ann.pk
    assert "github:octocat" not in _rows(w, since="2026-03-01")
    assert w.post(MAP, {"actor": "github:octocat", "person": ann.pk}).status_code == 200


def test_mapping_without_a_person_creates_one(w: Api) -> None:
    response = w.post(MAP, {"actor": "github:newbie"})
    assert response.status_code == 201
    assert Person.objects.get(pk=response.json()["person"]).name == "github:newbie"


def test_an_actor_mapped_to_someone_else_is_a_conflict(w: Api) -> None:
    bob = Person.objects.create(name="Bob")
    directory.identity_map(value="github:octocat", person=bob)
    ann = Person.objects.create(name="Ann")
    response = w.post(MAP, {"actor": "github:octocat", "person": ann.pk})
    assert response.status_code == 409
    assert response.json()["existing_id"] == bob.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "actor"),
        ({"actor": "  "}, "actor"),
        ({"actor": "x" * 255}, "actor"),
        ({"actor": "github:x", "person": 999999}, "person"),
        ({"proposal": 999999}, "proposal"),
        ({"proposal": 1, "actor": "github:x"}, "proposal"),
        ({"actor": "github:x", "colour": "blue"}, "colour"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_field(
    w: Api, body: dict[str, Any], field: str
) -> None:
    response = w.post(MAP, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


# --- Proposals from webhooks ---------------------------------------------------------------


def _push(client: Client, delivery_id: str = "d-1") -> Any:
    body = fixture("github", "push.revert.json")
    headers = {
        **signed("github", body, SECRET, now=datetime(2026, 3, 20, tzinfo=UTC)).headers,
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery_id,
    }
    return post_hook(client, "github", "acme", body, headers)


@pytest.fixture
def codertocat() -> Person:
    make_source("github", "acme", SECRET)
    return directory.person_create(name="Coder Cat", email=CODERTOCAT_EMAIL)


def test_a_push_proposes_the_login_for_the_person_whose_email_it_gives(
    client: Client, w: Api, codertocat: Person
) -> None:
    assert _push(client).status_code == 200
    assert _push(client, "d-2").status_code == 200
    proposal = ActorProposal.objects.get()
    assert (proposal.actor, proposal.person, proposal.seen) == ("github:Codertocat", codertocat, 2)
    # The push's commits carry the email as actor: the login itself is not on the
    # ledger, so the proposal shows in the list only once a record names it.
    build.event(actor="github:Codertocat", occurred_at=build.at(5))
    [listed] = _rows(w, since="2026-03-01")["github:Codertocat"]["proposals"]
    assert listed["person"] == codertocat.pk
    assert listed["email"] == CODERTOCAT_EMAIL

    accepted = w.post(MAP, {"proposal": proposal.pk})
    assert accepted.status_code == 201, accepted.content
    assert Identity.objects.get(value="github:Codertocat").person == codertocat
    proposal.refresh_from_db()
    assert proposal.status == "accepted"
    assert "github:Codertocat" not in _rows(w, since="2026-03-01")


def test_no_proposal_for_an_unknown_email_or_a_mapped_login(
    client: Client, codertocat: Person
) -> None:
    Person.objects.filter(pk=codertocat.pk).update(email="other@example.com")
    directory.identity_unmap(value=CODERTOCAT_EMAIL)
    _push(client)
    assert not ActorProposal.objects.exists()
    directory.identity_map(value=CODERTOCAT_EMAIL, person=codertocat)
    directory.identity_map(value="github:Codertocat", person=codertocat)
    _push(client, "d-2")
    assert not ActorProposal.objects.exists()


def test_mapping_an_actor_settles_its_proposals(client: Client, w: Api, codertocat: Person) -> None:
    _push(client)
    other = Person.objects.create(name="Other")
    response = w.post(MAP, {"actor": "github:Codertocat", "person": other.pk})
    assert response.status_code == 201
    assert ActorProposal.objects.get().status == "dismissed"


def test_the_admin_page_accepts_a_proposal_in_one_click(
    client: Client, admin_client: Client, codertocat: Person
) -> None:
    _push(client)
    build.event(actor="github:Codertocat", occurred_at=build.at(5))
    page = admin_client.get("/admin/integrations/unmappedactor/")
    [row] = [r for r in page.context["rows"] if r["actor"] == "github:Codertocat"]
    [proposal] = row["proposals"]
    assert b'value="Accept"' in page.content
    admin_client.post("/admin/integrations/unmappedactor/map/", {"proposal": proposal.pk})
    assert Identity.objects.get(value="github:Codertocat").person == codertocat


def test_the_map_body_must_be_json(w: Api) -> None:
    assert w.post(MAP, orjson.dumps({"actor": "x"}), content_type="text/plain").status_code == 415
