"""Four eyes on the scoreboard: roles on definitions, proposals, approvals, rescores.

The flow is driven through the real admin with two (and more) users; the
refusals are also checked at the service layer, whatever the caller.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from awu.definitions import approvals
from awu.definitions.models import ApprovalPolicy, ChangeRequest, Definition, DefinitionVersion
from awu.definitions.services import FrozenVersion, definition_publish, version_update
from awu.scoring import services as scoring
from awu.scoring.models import WorkUnit
from ledger import access
from ledger.ingest import events_ingest
from ledger.models import AuditEvent, Identity, Membership, Person, Team
from ledger.teams import team_create
from tests.e2e import stories
from tests.roles import client_for, user_with

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _pinned(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    settings.AWU_NOW = "2026-11-23T12:00:00Z"


@pytest.fixture
def teams() -> dict[str, Team]:
    payments = team_create(slug="payments", name="Payments")
    api = team_create(slug="payments-api", name="Payments API", parent=payments)
    sales = team_create(slug="sales", name="Sales")
    return {"payments": payments, "payments-api": api, "sales": sales}


@pytest.fixture
def people(teams: dict[str, Team]) -> dict[str, User]:
    return {
        "lead": user_with("pat", (access.TEAM_LEAD, teams["payments"])),
        "sub_lead": user_with("sam", (access.TEAM_LEAD, teams["payments-api"])),
        "other_lead": user_with("sue", (access.TEAM_LEAD, teams["sales"])),
        "admin": user_with("ada", (access.ADMIN, None)),
        "viewer": user_with("vic", (access.VIEWER, None)),
    }


@pytest.fixture
def definition(teams: dict[str, Team]) -> Definition:
    return Definition.objects.create(
        key="pay-contract", name="Payments contract", domain="legal", owner_team=teams["payments"]
    )


@pytest.fixture
def published_v1(definition: Definition) -> DefinitionVersion:
    ApprovalPolicy.objects.update_or_create(domain="legal", defaults={"required": False})
    v1 = DefinitionVersion.objects.create(
        definition=definition, version=1, trigger_type="contract.signed", units="1"
    )
    definition_publish(
        version=v1, now=NOW - timedelta(days=60), covers_from=NOW - timedelta(days=365)
    )
    ApprovalPolicy.objects.filter(domain="legal").update(required=True)
    return v1


@pytest.fixture
def draft(definition: Definition, published_v1: DefinitionVersion) -> DefinitionVersion:
    return DefinitionVersion.objects.create(
        definition=definition, version=2, trigger_type="contract.signed", units="1"
    )


def version_form(version: DefinitionVersion, **overrides: str) -> dict[str, str]:
    data = {
        "trigger_type": version.trigger_type,
        "trigger_condition": version.trigger_condition,
        "requires": "[]",
        "survive_days": str(version.survive_days),
        "disqualifiers": "[]",
        "units": version.units,
        "incidents": "null",
        "note": version.note,
    }
    data.update(overrides)
    return data


def change_url(version: DefinitionVersion) -> str:
    return reverse("admin:definitions_definitionversion_change", args=[version.pk])


def request_url(change: ChangeRequest) -> str:
    return reverse("admin:definitions_changerequest_change", args=[change.pk])


def decide(client: Client, change: ChangeRequest, decision: str, reason: str = "") -> Any:
    return client.post(
        reverse("admin:definitions_changerequest_decide", args=[change.pk]),
        {"decision": decision, "reason": reason},
        follow=True,
    )


def signed_contracts(count: int, start: datetime, tag: str = "c") -> None:
    person = Person.objects.create(name="Lee", email="lee@example.com")
    Identity.objects.create(value="lee@example.com", person=person)
    Membership.objects.create(
        person=person, team=Team.objects.get(slug="payments"), valid_from=start - timedelta(days=1)
    )
    for i in range(count):
        results = events_ingest(
            items=stories.contract(f"{tag}{i}", start + timedelta(hours=i)), now=NOW
        )
        assert {r.status for r in results} == {"created"}


def drain() -> None:
    scoring.outbox_drain(clock=lambda: NOW, batch_size=1000)


# --- the flow through the admin --------------------------------------------------


def test_four_eyes_through_the_admin(
    people: dict[str, User], draft: DefinitionVersion, teams: dict[str, Team]
) -> None:
    signed_contracts(3, NOW - timedelta(days=10))
    drain()
    assert WorkUnit.objects.filter(version__definition=draft.definition).count() == 3
    lead = client_for(people["lead"])

    # The lead of payments edits the draft (units 1 -> 2), previews it, proposes it.
    response = lead.post(change_url(draft), version_form(draft, units="2"))
    assert response.status_code == 302, response.content
    draft.refresh_from_db()
    assert draft.units == "2"
    page = lead.get(change_url(draft)).content.decode()
    assert "Propose this draft for approval" in page
    assert "Publish this draft" not in page
    preview = lead.get(reverse("admin:definitions_version_preview", args=[draft.pk]))
    assert preview.status_code == 200
    # Publishing directly while approval is required is refused.
    refused = lead.post(reverse("admin:definitions_version_publish", args=[draft.pk]), follow=True)
    assert "requires approval" in refused.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"

    response = lead.post(
        reverse("admin:definitions_version_propose", args=[draft.pk]), {"note": "two per deal"}
    )
    assert response.status_code == 302
    change = ChangeRequest.objects.get()
    assert (change.state, change.kind, change.proposed_by) == (
        "proposed",
        "publish",
        people["lead"],
    )
    assert change.preview["by_team"] == [
        {"team_id": teams["payments"].pk, "team": "payments", "before": "3", "after": "6",
         "gained": "3", "lost": "0"},
    ]  # fmt: skip
    draft.refresh_from_db()
    assert draft.status == "proposed"
    # Frozen while proposed: the edit form is gone, a forged save changes nothing.
    assert lead.post(change_url(draft), version_form(draft, units="9")).status_code == 403
    draft.refresh_from_db()
    assert draft.units == "2"

    # The proposer's own approval is refused; so are a lead of payments' sub-team
    # and a member of payments (tied by email) who leads another team.
    page = lead.get(request_url(change)).content.decode()
    assert "nobody approves their own change" in page
    assert "two per deal" in page
    assert "preview-by-team" in page
    assert "own change" in decide(lead, change, "approve").content.decode()
    sub = client_for(people["sub_lead"])
    assert "outside the owning team" in decide(sub, change, "approve").content.decode()
    member_user = user_with("mia", (access.TEAM_LEAD, teams["sales"]), email="mia@example.com")
    mia = Person.objects.create(name="Mia", email="mia@example.com")
    Membership.objects.create(
        person=mia, team=teams["payments"], valid_from=NOW - timedelta(days=5)
    )
    member = client_for(member_user)
    assert "member of payments" in decide(member, change, "approve").content.decode()
    change.refresh_from_db()
    assert change.state == "proposed"

    # Another team's lead sees the same stored diff and rejects it with a reason.
    other = client_for(people["other_lead"])
    page = other.get(request_url(change)).content.decode()
    assert ">payments</td><td>3</td><td>6</td><td>3</td><td>0<" in page
    assert "required" in decide(other, change, "reject").content.decode()  # no reason
    decide(other, change, "reject", "double credit is too generous")
    change.refresh_from_db()
    draft.refresh_from_db()
    assert (change.state, change.decided_by, change.reason) == (
        "rejected", people["other_lead"], "double credit is too generous",
    )  # fmt: skip
    assert draft.status == "draft"
    rejected = AuditEvent.objects.get(action="definition.rejected")
    assert rejected.reason == "double credit is too generous"
    assert rejected.after["gained"] == "3"

    # Back to editable: the lead edits again and proposes a second time.
    assert lead.post(change_url(draft), version_form(draft, units="1.5")).status_code == 302
    lead.post(reverse("admin:definitions_version_propose", args=[draft.pk]))
    second = ChangeRequest.objects.get(state="proposed")
    assert second.preview["gained"] == "1.5"

    # The admin approves: published in the approval's transaction.
    decide(client_for(people["admin"]), second, "approve", "fine")
    second.refresh_from_db()
    draft.refresh_from_db()
    assert (second.state, draft.status, draft.published_at) == ("approved", "published", NOW)
    assert AuditEvent.objects.get(action="definition.approved").after["request"] == second.pk
    published = AuditEvent.objects.filter(action="definition.published").latest("id")
    assert published.after["request"] == second.pk

    # New triggers are scored by the pipeline with the approved version.
    events_ingest(items=stories.contract("new", NOW + timedelta(hours=1)), now=NOW)
    scoring.outbox_drain(clock=lambda: NOW + timedelta(hours=2), batch_size=1000)
    unit = WorkUnit.objects.get(version=draft)
    assert unit.units == 1.5


def test_a_team_lead_sees_other_teams_definitions_read_only_and_a_forged_post_is_refused(
    people: dict[str, User], draft: DefinitionVersion, teams: dict[str, Team]
) -> None:
    other = client_for(people["other_lead"])

    page = other.get(change_url(draft))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="units"' not in body
    assert "Propose" not in body
    assert "Read-only" in body
    assert other.post(change_url(draft), version_form(draft, units="50")).status_code == 403
    for name in ("publish", "propose", "draft", "rescore"):
        url = reverse(f"admin:definitions_version_{name}", args=[draft.pk])
        assert other.post(url).status_code == 403, name
        assert other.get(url).status_code == 405, name
    added = other.post(
        reverse("admin:definitions_definitionversion_add"),
        {**version_form(draft), "definition": str(draft.definition_id)},
    )
    assert added.status_code == 403
    assert (
        other.get(reverse("admin:definitions_version_preview", args=[draft.pk])).status_code == 403
    )
    other.post(
        reverse("admin:definitions_definitionversion_changelist"),
        {"action": "publish_selected", "_selected_action": [draft.pk]},
    )
    draft.refresh_from_db()
    assert (draft.units, draft.status) == ("1", "draft")
    assert DefinitionVersion.objects.filter(definition=draft.definition).count() == 2
    assert not ChangeRequest.objects.exists()
    # The definition itself (its domain and owner decide who approves) is an admin's.
    lead = client_for(people["lead"])
    definition_url = reverse("admin:definitions_definition_change", args=[draft.definition_id])
    assert 'name="domain"' not in lead.get(definition_url).content.decode()
    response = lead.post(definition_url, {"name": "x", "domain": "nothing", "owner_team": ""})
    assert response.status_code == 403


def test_a_team_lead_drafts_only_for_their_teams_definitions(
    people: dict[str, User], draft: DefinitionVersion, teams: dict[str, Team]
) -> None:
    theirs = Definition.objects.create(
        key="sales-deal", name="Sales deal", domain="sales", owner_team=teams["sales"]
    )
    lead = client_for(people["lead"])
    add = reverse("admin:definitions_definitionversion_add")
    form = lead.get(add).content.decode()
    assert "pay-contract" in form
    assert "sales-deal" not in form

    response = lead.post(add, {**version_form(draft), "definition": str(draft.definition_id)})
    assert response.status_code == 302, response.content
    assert draft.definition.versions.count() == 3
    forged = lead.post(add, {**version_form(draft), "definition": str(theirs.pk)})
    assert forged.status_code == 403
    assert not theirs.versions.exists()


def test_viewers_do_not_enter_the_definitions_admin(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    viewer = client_for(people["viewer"])
    # The admin site lets in admins, team leads and finance only: a viewer is sent
    # to its log-in page, like someone not signed in.
    for url in (change_url(draft), reverse("admin:definitions_definitionversion_changelist")):
        response = viewer.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_when_the_policy_is_off_publishing_works_as_before(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    approvals.policy_set(domain="legal", required=False, preview_days=30)
    lead = client_for(people["lead"])
    assert "Publish this draft" in lead.get(change_url(draft)).content.decode()
    lead.post(reverse("admin:definitions_version_publish", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.status == "published"


def test_the_policy_is_an_admins_to_change_and_audited(people: dict[str, User]) -> None:
    url = reverse("admin:definitions_approvalpolicy_add")
    form = {"domain": "hr", "required": "", "preview_days": "14"}
    assert client_for(people["lead"]).post(url, form).status_code == 403
    assert client_for(people["admin"]).post(url, form).status_code == 302
    policy = ApprovalPolicy.objects.get(domain="hr")
    assert (policy.required, policy.preview_days) == (False, 14)
    row = AuditEvent.objects.get(action="approval_policy.changed", object_label="hr")
    assert row.after == {"domain": "hr", "required": False, "preview_days": 14}


def test_the_shipped_domains_require_approval_and_so_does_a_new_one() -> None:
    # The migration's rows may have been flushed by a transactional test: the
    # default for a domain without a row is the same.
    for domain in ("engineering", "sales", "legal", "support", "marketing", "brand-new"):
        assert approvals.approval_required(domain)


# --- service-level refusals -------------------------------------------------------


def propose(version: DefinitionVersion, by: User, kind: str = "publish") -> ChangeRequest:
    return approvals.change_propose(
        version=version, by=by, kind=kind, preview={"gained": "0"}, preview_days=30, now=NOW
    )


def test_service_refuses_direct_publish_when_approval_is_required(
    draft: DefinitionVersion,
) -> None:
    with pytest.raises(approvals.ApprovalRequired, match="requires approval"):
        definition_publish(version=draft, now=NOW)


def test_service_refuses_a_proposal_by_another_teams_lead(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    with pytest.raises(approvals.NotAllowed, match="only an admin or a lead"):
        propose(draft, people["other_lead"])
    with pytest.raises(approvals.NotAllowed):
        propose(draft, people["viewer"])


def test_service_refuses_self_approval_even_by_an_admin(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    change = propose(draft, people["admin"])
    with pytest.raises(approvals.NotAllowed, match="nobody approves their own change"):
        approvals.change_approve(change=change, by=people["admin"], now=NOW)


def test_service_refuses_an_approver_inside_the_owning_team(
    people: dict[str, User], draft: DefinitionVersion, teams: dict[str, Team]
) -> None:
    change = propose(draft, people["lead"])
    with pytest.raises(approvals.NotAllowed, match="outside the owning team"):
        approvals.change_approve(change=change, by=people["sub_lead"], now=NOW)
    co_lead = user_with("cy", (access.TEAM_LEAD, teams["payments"]))
    with pytest.raises(approvals.NotAllowed, match="outside the owning team"):
        approvals.change_approve(change=change, by=co_lead, now=NOW)
    admin_lead = user_with("al", (access.ADMIN, None), (access.TEAM_LEAD, teams["payments-api"]))
    with pytest.raises(approvals.NotAllowed, match="outside the owning team"):
        approvals.change_reject(change=change, by=admin_lead, now=NOW, reason="no")


def test_service_refuses_an_approver_who_is_a_member_of_the_owning_team(
    people: dict[str, User], draft: DefinitionVersion, teams: dict[str, Team]
) -> None:
    change = propose(draft, people["lead"])
    member = user_with("mo", (access.ADMIN, None), email="mo@example.com")
    mo = Person.objects.create(name="Mo", email="mo@example.com")
    Membership.objects.create(
        person=mo, team=teams["payments-api"], valid_from=NOW - timedelta(days=30)
    )
    with pytest.raises(approvals.NotAllowed, match="member of payments"):
        approvals.change_approve(change=change, by=member, now=NOW)
    # A membership that ended no longer counts.
    former = user_with("fo", (access.ADMIN, None), email="fo@example.com")
    fo = Person.objects.create(name="Fo", email="fo@example.com")
    Membership.objects.create(
        person=fo,
        team=teams["payments"],
        valid_from=NOW - timedelta(days=90),
        valid_to=NOW - timedelta(days=1),
    )
    approvals.change_approve(change=change, by=former, now=NOW)
    draft.refresh_from_db()
    assert draft.status == "published"


def test_service_refuses_deciding_without_a_role(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    change = propose(draft, people["lead"])
    with pytest.raises(approvals.NotAllowed, match="only an admin or a team lead"):
        approvals.change_approve(change=change, by=people["viewer"], now=NOW)


def test_service_requires_a_reason_to_reject(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    change = propose(draft, people["lead"])
    with pytest.raises(approvals.DefinitionError, match="needs a reason"):
        approvals.change_reject(change=change, by=people["admin"], now=NOW, reason="  ")


def test_service_keeps_a_proposed_version_frozen_and_withdraw_thaws_it(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    change = propose(draft, people["lead"])
    with pytest.raises(FrozenVersion, match="proposed"):
        version_update(version=draft, units="7")
    with pytest.raises(FrozenVersion, match="proposed"):
        definition_publish(version=draft, now=NOW)
    with pytest.raises(FrozenVersion, match="only a draft can be proposed"):
        propose(draft, people["admin"])
    with pytest.raises(approvals.NotAllowed):
        approvals.change_withdraw(change=change, by=people["other_lead"], now=NOW)
    approvals.change_withdraw(change=change, by=people["lead"], now=NOW, reason="not yet")
    version_update(version=draft, units="7")
    draft.refresh_from_db()
    assert (draft.status, draft.units) == ("draft", "7")
    with pytest.raises(approvals.DefinitionError, match="already withdrawn"):
        approvals.change_approve(change=change, by=people["admin"], now=NOW)
    assert AuditEvent.objects.get(action="definition.withdrawn").reason == "not yet"


# --- rescores ----------------------------------------------------------------------


def test_a_rescore_needs_an_approved_request_and_runs_once(
    people: dict[str, User], published_v1: DefinitionVersion
) -> None:
    signed_contracts(2, NOW - timedelta(days=5))
    drain()

    with pytest.raises(CommandError, match=r"requires approval for a rescore.*--request"):
        call_command("rescore", "pay-contract", stdout=StringIO())
    with pytest.raises(CommandError, match="--as USERNAME"):
        call_command("rescore", "pay-contract", "--propose", stdout=StringIO())
    out = StringIO()
    call_command(
        "rescore", "pay-contract", "--propose", "--as", "pat", "--from", "2026-11-01", stdout=out
    )
    change = ChangeRequest.objects.get(kind="rescore")
    assert f"rescore --request {change.pk}" in out.getvalue()
    assert change.covers_from == datetime(2026, 11, 1, tzinfo=UTC)
    assert AuditEvent.objects.get(action="rescore.requested").after["request"] == change.pk

    with pytest.raises(CommandError, match="is proposed: only an approved one runs"):
        call_command("rescore", "--request", str(change.pk), stdout=StringIO())
    # The same four-eyes rules decide it, in the admin.
    pat = client_for(people["lead"])
    assert "own change" in decide(pat, change, "approve").content.decode()
    decide(client_for(people["other_lead"]), change, "approve")
    change.refresh_from_db()
    assert change.state == "approved"
    assert AuditEvent.objects.get(action="rescore.approved").after["request"] == change.pk

    call_command("rescore", "--request", str(change.pk), stdout=StringIO())
    change.refresh_from_db()
    assert change.executed_at is not None
    latest = DefinitionVersion.objects.filter(definition=published_v1.definition).latest("version")
    assert (latest.version, latest.status, latest.covers_from) == (
        2, "published", datetime(2026, 11, 1, tzinfo=UTC),
    )  # fmt: skip
    assert WorkUnit.objects.filter(version=latest).count() == 2
    with pytest.raises(CommandError, match="already ran"):
        call_command("rescore", "--request", str(change.pk), stdout=StringIO())


def test_a_rescore_requested_in_the_admin_can_be_rejected(
    people: dict[str, User], published_v1: DefinitionVersion
) -> None:
    lead = client_for(people["lead"])
    response = lead.post(reverse("admin:definitions_version_rescore", args=[published_v1.pk]))
    assert response.status_code == 302
    change = ChangeRequest.objects.get(kind="rescore")
    decide(client_for(people["admin"]), change, "reject", "not during the quarter close")
    change.refresh_from_db()
    assert change.state == "rejected"
    assert (
        AuditEvent.objects.get(action="rescore.rejected").reason == "not during the quarter close"
    )
    with pytest.raises(approvals.ApprovalRequired):
        scoring.definition_rescore(definition=published_v1.definition, now=NOW, approval=change)


def test_the_command_line_cannot_publish_past_approval(
    draft: DefinitionVersion, capsys: pytest.CaptureFixture[str]
) -> None:
    from awu.cli import main as awu_main

    assert awu_main(["definitions", "publish", "pay-contract"]) != 0
    assert "requires approval" in capsys.readouterr().err
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_the_database_refuses_changing_a_proposed_versions_rules(
    people: dict[str, User], draft: DefinitionVersion
) -> None:
    from django.db import DatabaseError, transaction

    propose(draft, people["lead"])
    with pytest.raises(DatabaseError, match="proposed for approval"), transaction.atomic():
        DefinitionVersion.objects.filter(pk=draft.pk).update(units="99")
    draft.refresh_from_db()
    assert draft.units == "1"


def test_awu_rescore_proposes_as_the_named_user(
    people: dict[str, User], published_v1: DefinitionVersion, capsys: pytest.CaptureFixture[str]
) -> None:
    from awu.cli import main as awu_main

    assert awu_main(["--as", "sue", "rescore", "pay-contract", "--propose"]) != 0
    assert "may not propose" in capsys.readouterr().err
    assert awu_main(["--as", "pat", "rescore", "pay-contract", "--propose"]) == 0
    change = ChangeRequest.objects.get(kind="rescore")
    assert (change.proposed_by, change.state) == (people["lead"], "proposed")
