"""The admin by role: who enters, what a team lead sees and edits, finance's price
book, and the role grant admin (docs/security.md, Roles)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from ledger import access, directory
from ledger.models import AuditEvent, Identity, Membership, Person, RoleGrant, Team
from ledger.teams import team_create
from tests.ledger.admin_forms import add_inline_row, form_data
from tests.roles import PASSWORD, client_for, user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, Any]:
    a = team_create(slug="team-a", name="Team A")
    b = team_create(slug="team-b", name="Team B")
    ann = directory.person_create(name="Ann", email="ann@example.com")
    bob = directory.person_create(name="Bob", email="bob@example.com")
    directory.membership_start(person=ann, team=a)
    directory.membership_start(person=bob, team=b)
    directory.identity_map(value="github:bob", person=bob)
    return {"a": a, "b": b, "ann": ann, "bob": bob}


@pytest.fixture
def lead(world: dict[str, Any]) -> Client:
    return client_for(user_with("lead-a", (access.TEAM_LEAD, world["a"])))


def test_admin_entry_is_by_role_not_is_staff(world: dict[str, Any]) -> None:
    for name, grants, enters in [
        ("adm", [(access.ADMIN, None)], True),
        ("fin", [(access.FINANCE, None)], True),
        ("lead", [(access.TEAM_LEAD, world["a"])], True),
        ("view", [(access.VIEWER, None)], False),
        ("none", [], False),
    ]:
        user = user_with(name, *grants)
        assert client_for(user).get("/admin/").status_code == (200 if enters else 302), name
        # The admin's own log-in form asks the same question.
        login = Client().post("/admin/login/", {"username": name, "password": PASSWORD})
        assert (login.status_code == 302) is enters, name
    staff = User.objects.create_user("staff-only", password=PASSWORD, is_staff=True)
    assert client_for(staff).get("/admin/").status_code == 302


def test_a_team_lead_lists_only_the_people_and_identities_of_their_teams(
    world: dict[str, Any], lead: Client
) -> None:
    people = lead.get("/admin/ledger/person/")
    assert [p.name for p in people.context["cl"].result_list] == ["Ann"]
    identities = lead.get("/admin/ledger/identity/")
    assert [i.value for i in identities.context["cl"].result_list] == ["ann@example.com"]
    teams = lead.get("/admin/ledger/team/")
    assert [t.slug for t in teams.context["cl"].result_list] == ["team-a"]
    # The team autocomplete of the membership form offers only the teams they lead.
    found = lead.get(
        "/admin/autocomplete/",
        {"app_label": "ledger", "model_name": "membership", "field_name": "team", "term": "team"},
    )
    assert [r["text"] for r in found.json()["results"]] == ["Team A"]


def test_a_team_lead_edits_their_persons_identities_and_memberships(
    world: dict[str, Any], lead: Client
) -> None:
    ann = world["ann"]
    page = lead.get(f"/admin/ledger/person/{ann.pk}/change/")
    assert page.status_code == 200
    data = form_data(page)
    add_inline_row(data, "identities", value="github:ann")
    response = lead.post(f"/admin/ledger/person/{ann.pk}/change/", data)
    assert response.status_code == 302, response.content[:500]
    assert Identity.objects.get(value="github:ann").person_id == ann.pk
    # The person's own fields are not the lead's: shown, not editable.
    assert "name" not in page.context["adminform"].form.fields


def test_a_team_lead_posting_for_another_teams_person_gets_403_and_nothing_changes(
    world: dict[str, Any], lead: Client
) -> None:
    bob = world["bob"]
    assert lead.get(f"/admin/ledger/person/{bob.pk}/change/").status_code == 403
    before = (Identity.history.count(), Membership.history.count(), AuditEvent.objects.count())
    # The form of their own person, pointed at Bob's page.
    data = form_data(lead.get(f"/admin/ledger/person/{world['ann'].pk}/change/"))
    add_inline_row(data, "identities", value="github:forged")
    assert lead.post(f"/admin/ledger/person/{bob.pk}/change/", data).status_code == 403
    # The identity form with Bob as the person.
    forged = lead.post("/admin/ledger/identity/add/", {"value": "github:forged", "person": bob.pk})
    assert forged.status_code == 403
    # Bob's identity, moved to Ann, or deleted.
    bobs = Identity.objects.get(value="github:bob")
    moved = lead.post(
        f"/admin/ledger/identity/{bobs.pk}/change/",
        {"value": "github:bob", "person": world["ann"].pk},
    )
    assert moved.status_code == 403
    assert (
        lead.post(f"/admin/ledger/identity/{bobs.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    after = (Identity.history.count(), Membership.history.count(), AuditEvent.objects.count())
    assert after == before
    assert Identity.objects.get(value="github:bob").person_id == bob.pk


def test_a_team_lead_cannot_add_their_person_to_a_team_they_do_not_lead(
    world: dict[str, Any], lead: Client
) -> None:
    ann = world["ann"]
    data = form_data(lead.get(f"/admin/ledger/person/{ann.pk}/change/"))
    add_inline_row(
        data, "memberships", team=world["b"].pk, valid_from_0="2026-01-01", valid_from_1="00:00"
    )
    before = Membership.history.count()
    assert lead.post(f"/admin/ledger/person/{ann.pk}/change/", data).status_code == 403
    assert Membership.history.count() == before
    # To their own team it is saved.
    own = form_data(lead.get(f"/admin/ledger/person/{ann.pk}/change/"))
    add_inline_row(
        own, "memberships", team=world["a"].pk, valid_from_0="2020-01-01", valid_from_1="00:00",
        valid_to_0="2021-01-01", valid_to_1="00:00",
    )  # fmt: skip
    assert lead.post(f"/admin/ledger/person/{ann.pk}/change/", own).status_code == 302
    assert Membership.history.count() == before + 1


def test_a_team_lead_cannot_create_teams_people_or_keys(
    world: dict[str, Any], lead: Client
) -> None:
    for url in ("/admin/ledger/team/add/", "/admin/ledger/person/add/", "/admin/ledger/apikey/"):
        assert lead.get(url).status_code == 403, url
    renamed = lead.post(
        f"/admin/ledger/team/{world['a'].pk}/change/", {"name": "Renamed", "domain": "software"}
    )
    assert renamed.status_code == 403
    assert Team.objects.get(pk=world["a"].pk).name == "Team A"


def test_finance_keeps_the_price_book_and_reads_teams_but_not_people(
    world: dict[str, Any],
) -> None:
    finance = client_for(user_with("fin", (access.FINANCE, None)))
    assert finance.get("/admin/ledger/modelprice/add/").status_code == 200
    assert finance.get("/admin/ledger/team/").status_code == 200
    assert finance.get(f"/admin/ledger/team/{world['a'].pk}/change/").status_code == 200
    assert finance.get("/admin/ledger/tokenusage/").status_code == 200
    assert finance.get("/admin/ledger/person/").status_code == 403
    assert finance.get("/admin/ledger/rolegrant/").status_code == 403
    merged = finance.post(
        "/admin/ledger/team/",
        {"action": "merge", "_selected_action": [world["b"].pk], "into": world["a"].pk},
    )
    assert Team.objects.get(pk=world["b"].pk).merged_into_id is None, merged.status_code


def test_grants_are_made_and_revoked_in_the_admin_with_a_reason(world: dict[str, Any]) -> None:
    adm = client_for(user_with("adm", (access.ADMIN, None)))
    target = User.objects.create_user("newlead")
    response = adm.post(
        "/admin/ledger/rolegrant/add/",
        {"user": target.pk, "role": "team_lead", "team": world["a"].pk, "reason": "TICKET-1"},
    )
    assert response.status_code == 302, response.content[:500]
    row = RoleGrant.objects.get(user=target)
    granted = AuditEvent.objects.get(action="role.granted", object_id=str(row.pk))
    assert (granted.reason, granted.actor) == ("TICKET-1", "adm")

    adm.post(
        "/admin/ledger/rolegrant/",
        {"action": "revoke_selected", "_selected_action": [row.pk], "reason": "TICKET-2"},
    )
    assert not RoleGrant.objects.filter(user=target).exists()
    assert AuditEvent.objects.get(action="role.revoked", object_id=str(row.pk)).reason == "TICKET-2"
    # Nobody else manages grants.
    lead = client_for(user_with("lead", (access.TEAM_LEAD, world["a"])))
    assert lead.get("/admin/ledger/rolegrant/").status_code == 403
    refused = lead.post(
        "/admin/ledger/rolegrant/add/", {"user": target.pk, "role": "admin", "reason": "me"}
    )
    assert refused.status_code == 403
    assert not RoleGrant.objects.filter(user=target).exists()


def test_a_superuser_is_an_admin(world: dict[str, Any]) -> None:
    root = client_for(User.objects.create_superuser("root", password=PASSWORD))
    assert root.get("/admin/ledger/rolegrant/add/").status_code == 200
    assert (
        len(root.get("/admin/ledger/person/").context["cl"].result_list) == Person.objects.count()
    )
