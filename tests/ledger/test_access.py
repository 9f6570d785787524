"""Roles scoped to teams: which teams a grant covers, what a user and a key read."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from ledger import access, auth
from ledger.models import AuditEvent, RoleGrant, Team
from ledger.teams import team_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree() -> dict[str, Team]:
    """eng -> (payments -> payments-api), (mobile); ops merged into payments; sales."""
    eng = team_create(slug="eng", name="Engineering")
    payments = team_create(slug="payments", name="Payments", parent=eng)
    api = team_create(slug="payments-api", name="Payments API", parent=payments)
    mobile = team_create(slug="mobile", name="Mobile", parent=eng)
    ops = team_create(slug="ops", name="Ops")
    Team.objects.filter(pk=ops.pk).update(merged_into=payments)
    sales = team_create(slug="sales", name="Sales")
    return {t.slug: t for t in (eng, payments, api, mobile, ops, sales)}


def ids(tree: dict[str, Team], *slugs: str) -> frozenset[int]:
    return frozenset(tree[s].pk for s in slugs)


def test_a_team_covers_its_subtree_and_the_teams_merged_into_it(tree: dict[str, Team]) -> None:
    assert access.team_scope([tree["payments"].pk]) == ids(tree, "payments", "payments-api", "ops")
    assert access.team_scope([tree["eng"].pk]) == ids(
        tree, "eng", "payments", "payments-api", "mobile", "ops"
    )
    assert access.team_scope([]) == frozenset()


def test_a_cycle_in_the_tree_ends_the_walk(tree: dict[str, Team]) -> None:
    Team.objects.filter(pk=tree["eng"].pk).update(parent=tree["payments-api"])
    assert access.team_scope([tree["payments"].pk]) == ids(
        tree, "eng", "payments", "payments-api", "mobile", "ops"
    )


def test_what_each_role_reads(tree: dict[str, Team]) -> None:
    def user(name: str, *grants: tuple[str, str | None]) -> User:
        u = User.objects.create_user(name)
        for role, slug in grants:
            access.grant(user=u, role=role, team=tree[slug] if slug else None)
        return u

    assert access.visible_team_ids(user("none")) == frozenset()
    assert access.visible_team_ids(user("fin", (access.FINANCE, None))) is None
    assert access.visible_team_ids(user("adm", (access.ADMIN, None))) is None
    assert access.visible_team_ids(User.objects.create_superuser("root")) is None
    assert access.visible_team_ids(user("all", (access.VIEWER, None))) is None
    lead = user("lead", (access.TEAM_LEAD, "payments"), (access.VIEWER, "sales"))
    assert access.visible_team_ids(lead) == ids(tree, "payments", "payments-api", "ops", "sales")
    assert access.lead_team_ids(lead) == ids(tree, "payments", "payments-api", "ops")
    assert access.leads(lead, tree["payments-api"].pk)
    assert not access.leads(lead, tree["sales"].pk)
    gone = user("gone", (access.VIEWER, None))
    gone.is_active = False
    assert access.visible_team_ids(gone) == frozenset()
    assert access.roles_of(gone) == set()


def test_grants_are_audited_and_revocable(tree: dict[str, Team]) -> None:
    user = User.objects.create_user("lead")
    row = access.grant(user=user, role=access.TEAM_LEAD, team=tree["mobile"], reason="new lead")
    assert access.grant(user=user, role=access.TEAM_LEAD, team=tree["mobile"]) == row
    granted = AuditEvent.objects.filter(action="role.granted").get()
    assert granted.after == {"user": "lead", "role": "team_lead", "team": "mobile"}
    assert granted.reason == "new lead"
    access.revoke(row=row, reason="moved on")
    assert not RoleGrant.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="role.revoked").get().before["team"] == "mobile"
    assert access.lead_team_ids(user) == frozenset()


@pytest.mark.parametrize(
    ("role", "with_team"),
    [(access.TEAM_LEAD, False), (access.ADMIN, True), (access.FINANCE, True)],
)
def test_the_database_refuses_a_grant_of_the_wrong_shape(
    tree: dict[str, Team], role: str, with_team: bool
) -> None:
    user = User.objects.create_user("x")
    with pytest.raises(IntegrityError), transaction.atomic():
        RoleGrant.objects.create(user=user, role=role, team=tree["eng"] if with_team else None)


def test_an_all_teams_grant_is_held_once() -> None:
    user = User.objects.create_user("x")
    RoleGrant.objects.create(user=user, role=access.VIEWER)
    with pytest.raises(IntegrityError), transaction.atomic():
        RoleGrant.objects.create(user=user, role=access.VIEWER)


def test_a_key_limited_to_teams_carries_their_scope(tree: dict[str, Team]) -> None:
    _, limited = auth.api_key_create(name="pay", scopes=["reports:read"], teams=[tree["payments"]])
    _, whole = auth.api_key_create(name="all", scopes=["reports:read"])
    auth._cache.clear()
    principal = auth.principal_for_key(limited)
    assert principal is not None
    assert principal.teams == ids(tree, "payments", "payments-api", "ops")
    everyone = auth.principal_for_key(whole)
    assert everyone is not None
    assert everyone.teams is None
    created = AuditEvent.objects.filter(action="api_key.created", object_label__startswith="pay")
    assert created.get().after["teams"] == ["payments"]
    assert access.may_read_team(principal.teams, tree["ops"].pk)
    assert not access.may_read_team(principal.teams, tree["sales"].pk)
    assert not access.may_read_team(principal.teams, None)
    assert access.may_read_team(None, None)
