"""Keys limited to teams: the management command, the admin form and its audit row."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from ledger import auth
from ledger.models import ApiKey, AuditEvent, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams() -> dict[str, Team]:
    return {slug: Team.objects.create(slug=slug, name=slug) for slug in ("payments", "search")}


def test_the_command_limits_a_key_to_teams(teams: dict[str, Team]) -> None:
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key", "pay", "--scope", "reports:read", "--team", "payments",
        stdout=out, stderr=err,
    )  # fmt: skip
    key = out.getvalue().split()[-1]
    principal = auth.principal_for_key(key)
    assert principal is not None
    assert principal.teams == frozenset({teams["payments"].pk})
    assert "limited to teams payments" in err.getvalue()


def test_the_command_refuses_an_unknown_team_naming_it(teams: dict[str, Team]) -> None:
    with pytest.raises(CommandError, match="--team: no team with slug 'billing'"):
        call_command("create_api_key", "x", "--scope", "reports:read", "--team", "billing")
    assert not ApiKey.objects.exists()


def test_the_admin_creates_a_limited_key_and_changes_its_teams_with_an_audit_row(
    admin_client: Client, teams: dict[str, Team]
) -> None:
    add = admin_client.post(
        reverse("admin:ledger_apikey_add"),
        {"name": "pay", "scopes": ["reports:read"], "teams": [teams["payments"].pk]},
    )
    assert add.status_code == 302, add.content[:2000]
    row = ApiKey.objects.get(name="pay")
    assert list(row.teams.values_list("slug", flat=True)) == ["payments"]
    listing = admin_client.get(reverse("admin:ledger_apikey_changelist")).content.decode()
    assert "payments" in listing

    change = admin_client.post(
        reverse("admin:ledger_apikey_change", args=[row.pk]),
        {"teams": [teams["payments"].pk, teams["search"].pk]},
    )
    assert change.status_code == 302, change.content[:2000]
    assert sorted(row.teams.values_list("slug", flat=True)) == ["payments", "search"]
    audit = AuditEvent.objects.get(action="api_key.teams_changed")
    assert audit.before == {"teams": ["payments"]}
    assert audit.after == {"teams": ["payments", "search"]}
    assert (audit.actor_kind, audit.actor) == ("user", "admin")
    # Name and scopes stay read-only: a forged field changes nothing.
    admin_client.post(
        reverse("admin:ledger_apikey_change", args=[row.pk]),
        {"teams": [], "name": "renamed", "scopes": ["admin"]},
    )
    row.refresh_from_db()
    assert (row.name, row.scopes, row.teams.count()) == ("pay", ["reports:read"], 0)
    last = AuditEvent.objects.filter(action="api_key.teams_changed").order_by("-id").first()
    assert last is not None
    assert last.after == {"teams": None}


def test_setting_the_same_teams_records_nothing(teams: dict[str, Team]) -> None:
    row, _ = auth.api_key_create(name="k", scopes=["reports:read"], teams=[teams["search"]])
    auth.api_key_set_teams(key_id=row.pk, teams=[teams["search"]])
    assert not AuditEvent.objects.filter(action="api_key.teams_changed").exists()
