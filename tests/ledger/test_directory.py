"""The directory keeps its history: identities and memberships are retracted, never edited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.models import Max
from django.db.utils import ProgrammingError
from django.test import Client, override_settings

from ledger import directory
from ledger.identities import persons_for_actors, team_at
from ledger.models import AuditEvent, Identity, Membership, Person, Team

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, tzinfo=UTC)


def _now(at: datetime) -> override_settings:
    return override_settings(AWU_NOW=at.isoformat())


@pytest.fixture
def ann() -> Person:
    return Person.objects.create(name="Ann", email="ann@example.com")


@pytest.fixture
def teams() -> dict[str, Team]:
    return {s: Team.objects.create(slug=s, name=s) for s in ("mobile", "payments")}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_identity SET value = 'other'",
        "UPDATE ledger_identity SET retracted_at = now() - interval '1 day'"
        " WHERE retracted_at IS NOT NULL",
        "UPDATE ledger_membership SET valid_to = now()",
        "DELETE FROM ledger_identity",
        "DELETE FROM ledger_membership",
    ],
)
def test_the_database_refuses_to_edit_or_delete_directory_history(
    ann: Person, teams: dict[str, Team], statement: str
) -> None:
    directory.identity_map(value="ann-laptop", person=ann)
    directory.identity_map(value="ann-laptop", person=Person.objects.create(name="Bob"))
    directory.membership_start(person=ann, team=teams["mobile"])
    with (
        pytest.raises(ProgrammingError, match="keeps its history"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


def test_a_remap_keeps_the_earlier_mapping_and_reads_as_known_then(ann: Person) -> None:
    bob = Person.objects.create(name="Bob")
    with _now(MARCH):
        directory.identity_map(value="laptop", person=ann)
    with _now(JUNE):
        directory.identity_map(value="laptop", person=bob)
        again = directory.identity_map(value="laptop", person=bob)
    assert Identity.history.filter(value="laptop").count() == 2
    assert again.person_id == bob.pk
    assert persons_for_actors(["laptop"]) == {"laptop": bob.pk}
    assert persons_for_actors(["laptop"], known_at=datetime(2026, 4, 1, tzinfo=UTC)) == {
        "laptop": ann.pk
    }
    assert persons_for_actors(["laptop"], known_at=datetime(2026, 2, 1, tzinfo=UTC)) == {}
    with _now(JUNE):
        assert directory.identity_unmap(value="laptop") is True
        assert directory.identity_unmap(value="laptop") is False
    assert persons_for_actors(["laptop"]) == {}


def test_a_first_membership_reaches_back_and_a_move_splits_history_at_the_move(
    ann: Person, teams: dict[str, Team]
) -> None:
    with _now(MARCH):
        first = directory.membership_start(person=ann, team=teams["mobile"])
        assert directory.membership_start(person=ann, team=teams["mobile"]) == first
    assert first.valid_from == directory.BEGINNING
    with _now(JUNE):
        directory.memberships_end(person=ann, team=teams["mobile"], origin="scim")
        moved = directory.membership_start(person=ann, team=teams["payments"], origin="scim")
    assert moved.valid_from == JUNE
    last_year = datetime(2025, 6, 1, tzinfo=UTC)
    assert team_at(ann.pk, last_year) == teams["mobile"].pk
    assert team_at(ann.pk, datetime(2026, 5, 1, tzinfo=UTC)) == teams["mobile"].pk
    assert team_at(ann.pk, datetime(2026, 7, 1, tzinfo=UTC)) == teams["payments"].pk
    # As known in April: mobile, open ended (the move was recorded in June).
    april = datetime(2026, 4, 1, tzinfo=UTC)
    assert team_at(ann.pk, datetime(2026, 7, 1, tzinfo=UTC), known_at=april) == teams["mobile"].pk
    assert team_at(ann.pk, last_year, known_at=datetime(2026, 2, 1, tzinfo=UTC)) is None


def test_deactivation_ends_memberships_and_keeps_the_past(
    ann: Person, teams: dict[str, Team]
) -> None:
    with _now(MARCH):
        directory.membership_start(person=ann, team=teams["mobile"])
    with _now(JUNE):
        directory.person_set_active(person=ann, active=False, origin="scim")
    ann.refresh_from_db()
    assert ann.active is False
    assert team_at(ann.pk, datetime(2026, 5, 1, tzinfo=UTC)) == teams["mobile"].pk
    assert team_at(ann.pk, datetime(2026, 7, 1, tzinfo=UTC)) is None
    assert directory.teams_of(ann, at=datetime(2026, 7, 1, tzinfo=UTC)) == []


def test_ending_a_membership_before_it_began_retracts_it(
    ann: Person, teams: dict[str, Team]
) -> None:
    directory.membership_start(person=ann, team=teams["mobile"])
    row = directory.membership_start(person=ann, team=teams["payments"], valid_from=JUNE)
    assert directory.membership_end(row, at=MARCH) is None
    assert not Membership.objects.filter(team=teams["payments"]).exists()
    assert Membership.history.filter(team=teams["payments"]).count() == 1


def test_the_admin_edits_a_membership_as_a_correction_kept_in_history(
    admin_client: Client, ann: Person, teams: dict[str, Team]
) -> None:
    row = directory.membership_start(person=ann, team=teams["mobile"], valid_from=MARCH)
    directory.identity_map(value="ann@example.com", person=ann)
    identity = Identity.objects.get(value="ann@example.com")
    form = {
        "name": "Ann",
        "email": "ann@example.com",
        "active": "on",
        "identities-TOTAL_FORMS": "1",
        "identities-INITIAL_FORMS": "1",
        "identities-0-id": str(identity.pk),
        "identities-0-person": str(ann.pk),
        "identities-0-value": "ann@example.com",
        "identities-0-DELETE": "on",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": str(row.pk),
        "memberships-0-person": str(ann.pk),
        "memberships-0-team": str(teams["payments"].pk),
        "memberships-0-valid_from_0": "2026-03-01",
        "memberships-0-valid_from_1": "00:00:00",
    }
    response = admin_client.post(f"/admin/ledger/person/{ann.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(Membership.objects.values_list("team__slug", flat=True)) == ["payments"]
    assert Membership.history.count() == 2
    assert not Identity.objects.exists()
    assert Identity.history.count() == 1


def test_every_directory_write_is_in_the_audit_trail(ann: Person, teams: dict[str, Team]) -> None:
    # What the trail held before (a data migration's own entries, in a new database).
    seen = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    with _now(MARCH):
        directory.identity_map(value="ann-laptop", person=ann, origin="scim")
        row = directory.membership_start(person=ann, team=teams["mobile"], origin="scim")
    with _now(JUNE):
        directory.membership_end(row, origin="scim")
        directory.identity_unmap(value="ann-laptop", origin="scim")
        directory.person_set_active(person=ann, active=False, origin="scim")
    actions = list(
        AuditEvent.objects.filter(id__gt=seen).order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        "identity.mapped",
        "membership.started",
        "membership.ended",
        "identity.unmapped",
        "person.deactivated",
    ]
    ended = AuditEvent.objects.get(action="membership.ended")
    assert ended.before["valid_to"] is None
    assert ended.after["valid_to"].startswith("2026-06-01")
    assert ended.after["origin"] == "scim"


def test_the_admin_keeps_a_teams_place_in_the_org_tree(admin_client: Client) -> None:
    eng = Team.objects.create(slug="eng", name="Engineering")
    response = admin_client.post(
        "/admin/ledger/team/add/",
        {
            "slug": "web",
            "name": "Web",
            "domain": "engineering",
            "parent": eng.pk,
            "cost_centre": "CC-WEB",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    web = Team.objects.get(slug="web")
    assert (web.parent_id, web.cost_centre) == (eng.pk, "CC-WEB")
    created = AuditEvent.objects.get(action="team.created", object_label="Web")
    assert created.after["cost_centre"] == "CC-WEB"

    response = admin_client.post(
        f"/admin/ledger/team/{web.pk}/change/",
        {"name": "Web", "domain": "engineering", "parent": eng.pk, "cost_centre": "CC-2"},
    )
    assert response.status_code == 302
    web.refresh_from_db()
    assert web.cost_centre == "CC-2"
    changed = AuditEvent.objects.get(action="team.changed")
    assert (changed.before, changed.after["cost_centre"]) == ({"cost_centre": "CC-WEB"}, "CC-2")

    # A parent that makes a cycle is refused with the field named; nothing changes.
    response = admin_client.post(
        f"/admin/ledger/team/{eng.pk}/change/",
        {"name": "Engineers", "domain": "", "parent": web.pk, "cost_centre": ""},
        follow=True,
    )
    assert "parent: would make a cycle" in response.content.decode()
    eng.refresh_from_db()
    assert (eng.parent_id, eng.name) == (None, "Engineering")
