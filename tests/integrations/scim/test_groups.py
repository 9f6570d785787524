"""/scim/v2/Groups: teams provisioned; membership effective-dated from the push."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ledger import directory, teams
from ledger.directory import BEGINNING
from ledger.models import Membership, Person, Team
from tests.integrations.scim.conftest import Scim, error_of, group, user

pytestmark = pytest.mark.django_db


def person(scim: Scim, user_name: str) -> str:
    response = scim.post("/Users", user(user_name))
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def create(scim: Scim, name: str, *members: str, **extra: Any) -> dict:
    response = scim.post("/Groups", group(name, *members, **extra))
    assert response.status_code == 201, response.content
    return response.json()


def open_teams(person_id: str) -> list[str]:
    rows = Membership.objects.filter(person_id=int(person_id), valid_to__isnull=True)
    return sorted(m.team.slug for m in rows)


def test_a_group_is_a_team_with_a_slug_from_its_display_name(scim: Scim) -> None:
    body = create(scim, "Payments Platform", externalId="g-1")
    team = Team.objects.get(pk=int(body["id"]))
    assert (team.slug, team.name, team.external_id) == (
        "payments-platform",
        "Payments Platform",
        "g-1",
    )
    assert team.status == Team.Status.CONFIRMED
    Team.objects.create(slug="risk", name="Risk (old)")
    assert Team.objects.get(pk=int(create(scim, "Risk")["id"])).slug == "risk-2"


def test_members_added_start_memberships_and_the_first_reaches_back(
    scim: Scim, settings: Any
) -> None:
    settings.AWU_NOW = "2026-03-10T09:00:00Z"
    ada, bob = person(scim, "ada@example.com"), person(scim, "bob@example.com")
    first = create(scim, "Payments", ada)
    [m] = Membership.objects.filter(person_id=int(ada))
    assert m.valid_from == BEGINNING
    assert m.origin == "scim"
    settings.AWU_NOW = "2026-03-15T09:00:00Z"
    # Okta adds members with a PATCH.
    response = scim.patch(
        f"/Groups/{first['id']}",
        {"op": "add", "path": "members", "value": [{"value": bob, "display": "Bob"}]},
    )
    assert response.status_code == 200, response.content
    assert {m["value"] for m in response.json()["members"]} == {ada, bob}
    second = create(scim, "Risk")
    scim.patch(
        f"/Groups/{second['id']}", {"op": "add", "path": "members", "value": [{"value": ada}]}
    )
    later = Membership.objects.get(person_id=int(ada), team_id=int(second["id"]))
    assert later.valid_from == datetime.fromisoformat("2026-03-15T09:00:00+00:00")


def test_a_move_ends_one_membership_and_starts_another_at_the_push(
    scim: Scim, settings: Any
) -> None:
    settings.AWU_NOW = "2026-03-01T00:00:00Z"
    ada = person(scim, "ada@example.com")
    payments, risk = create(scim, "Payments", ada), create(scim, "Risk")
    settings.AWU_NOW = "2026-03-20T00:00:00Z"
    # Entra ID: capitalised ops, remove with the member as the value.
    removed = scim.patch(
        f"/Groups/{payments['id']}", {"op": "Remove", "path": "members", "value": [{"value": ada}]}
    )
    added = scim.patch(
        f"/Groups/{risk['id']}", {"op": "Add", "path": "members", "value": [{"value": ada}]}
    )
    assert (removed.status_code, added.status_code) == (200, 200)
    assert open_teams(ada) == ["risk"]
    moved = datetime.fromisoformat("2026-03-20T00:00:00+00:00")
    old = Membership.objects.get(person_id=int(ada), team__slug="payments")
    assert (old.valid_from, old.valid_to) == (BEGINNING, moved)
    assert Membership.objects.get(person_id=int(ada), team__slug="risk").valid_from == moved
    assert Membership.history.filter(person_id=int(ada), retracted_at__isnull=False).count() == 1


def test_members_removed_by_filter_as_okta_sends_it(scim: Scim) -> None:
    ada, bob = person(scim, "ada@example.com"), person(scim, "bob@example.com")
    body = create(scim, "Payments", ada, bob)
    response = scim.patch(
        f"/Groups/{body['id']}", {"op": "remove", "path": f'members[value eq "{ada}"]'}
    )
    assert response.status_code == 200, response.content
    assert [m["value"] for m in response.json()["members"]] == [bob]
    # Removing somebody who is no longer there is a no-op (a retry).
    again = scim.patch(
        f"/Groups/{body['id']}", {"op": "remove", "path": f'members[value eq "{ada}"]'}
    )
    assert again.status_code == 200


def test_entra_replaces_the_member_list(scim: Scim) -> None:
    ada, bob = person(scim, "ada@example.com"), person(scim, "bob@example.com")
    body = create(scim, "Payments", ada)
    response = scim.patch(
        f"/Groups/{body['id']}", {"op": "Replace", "path": "members", "value": [{"value": bob}]}
    )
    assert response.status_code == 200, response.content
    assert (open_teams(ada), open_teams(bob)) == ([], ["payments"])


def test_okta_renames_with_the_group_id_in_the_value(scim: Scim) -> None:
    body = create(scim, "Payments")
    response = scim.patch(
        f"/Groups/{body['id']}",
        {"op": "replace", "value": {"id": body["id"], "displayName": "Payments & Billing"}},
    )
    assert response.status_code == 200, response.content
    team = Team.objects.get(pk=int(body["id"]))
    assert (team.name, team.slug) == ("Payments & Billing", "payments")


def test_put_sets_the_members_and_filter_finds_by_display_name(scim: Scim) -> None:
    ada, bob = person(scim, "ada@example.com"), person(scim, "bob@example.com")
    body = create(scim, "Payments", ada)
    assert scim.put(f"/Groups/{body['id']}", group("Payments", bob)).status_code == 200
    assert (open_teams(ada), open_teams(bob)) == ([], ["payments"])
    found = scim.get('/Groups?filter=displayName eq "payments"').json()
    assert [g["id"] for g in found["Resources"]] == [body["id"]]
    by_member = scim.get(f'/Groups?filter=members[value eq "{bob}"]').json()
    assert by_member["totalResults"] == 1


def test_delete_ends_memberships_and_keeps_the_team(scim: Scim) -> None:
    ada = person(scim, "ada@example.com")
    body = create(scim, "Payments", ada)
    assert scim.delete(f"/Groups/{body['id']}").status_code == 204
    assert open_teams(ada) == []
    assert Team.objects.filter(pk=int(body["id"])).exists()
    assert error_of(scim.get(f"/Groups/{body['id']}"))[0] == 404
    assert Membership.objects.filter(person_id=int(ada)).exists()


def test_a_discovered_team_merged_into_the_scim_group_counts_as_it(scim: Scim) -> None:
    teams.teams_discover(["pay"])
    discovered = Team.objects.get(slug="pay")
    body = create(scim, "Payments")
    assert Team.objects.get(pk=int(body["id"])).pk != discovered.pk  # not adopted by name
    teams.team_merge(team=discovered, into=Team.objects.get(pk=int(body["id"])))
    assert set(teams.team_slugs_counted_as("payments")) == {"pay", "payments"}


def test_a_team_typed_in_before_is_adopted_by_name(scim: Scim) -> None:
    existing = Team.objects.create(slug="payments", name="Payments")
    assert create(scim, "payments")["id"] == str(existing.pk)


# Bad input


def test_an_unknown_member_is_400_naming_it_and_nothing_is_written(scim: Scim) -> None:
    ada = person(scim, "ada@example.com")
    status, scim_type, detail = error_of(scim.post("/Groups", group("Payments", ada, "424242")))
    assert (status, scim_type) == (400, "invalidValue")
    assert "424242" in detail
    assert not Team.objects.filter(name="Payments").exists()
    body = create(scim, "Risk", ada)
    for missing, operation in (
        ("777", {"op": "add", "path": "members", "value": [{"value": "777"}]}),
        ("778", {"op": "remove", "path": 'members[value eq "778"]'}),
        ("779", {"op": "Remove", "path": "members", "value": [{"value": "779"}]}),
    ):
        status, _, detail = error_of(scim.patch(f"/Groups/{body['id']}", operation))
        assert status == 400
        assert missing in detail
    assert open_teams(ada) == ["risk"]


def test_a_duplicate_external_id_is_409(scim: Scim) -> None:
    create(scim, "A", externalId="same")
    assert error_of(scim.post("/Groups", group("B", externalId="same")))[:2] == (409, "uniqueness")


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]},
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": ["x"]},
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "x",
            "members": "1",
        },
    ],
)
def test_schema_breaks_are_400(scim: Scim, body: dict) -> None:
    status, scim_type, _ = error_of(scim.post("/Groups", body))
    assert status == 400
    assert scim_type in {"invalidValue", "invalidSyntax"}


def test_an_unknown_filter_attribute_is_400_invalid_filter(scim: Scim) -> None:
    assert error_of(scim.get('/Groups?filter=userName eq "x"'))[:2] == (400, "invalidFilter")


def test_membership_history_is_never_edited(scim: Scim) -> None:
    ada = person(scim, "ada@example.com")
    body = create(scim, "Payments", ada)
    scim.put(f"/Groups/{body['id']}", group("Payments"))
    rows = Membership.history.filter(person_id=int(ada)).order_by("id")
    assert [(r.valid_to is None, r.retracted_at is None) for r in rows] == [
        (True, False),
        (False, True),
    ]
    assert Person.objects.get(pk=int(ada)).active is True
    assert directory.teams_of(Person.objects.get(pk=int(ada))) == []


def test_a_list_reads_a_page_of_groups_and_users_in_a_fixed_number_of_queries(
    scim: Scim, django_assert_max_num_queries: Any
) -> None:
    def lists_with(groups: int) -> tuple[dict, dict]:
        for n in range(groups):
            member = person(scim, f"member.{groups}{n}@example.com")
            create(scim, f"Team {groups}-{n}", member)
        with django_assert_max_num_queries(12):
            users = scim.get("/Users?count=100").json()
            teams = scim.get("/Groups?count=100").json()
        return users, teams

    users, teams = lists_with(3)
    users, teams = lists_with(12)
    assert teams["totalResults"] == 15
    assert all(len(g["members"]) == 1 for g in teams["Resources"])
    assert all(len(u["groups"]) == 1 for u in users["Resources"])
