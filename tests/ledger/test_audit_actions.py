"""Every change to what the numbers mean leaves an audit row the audit API returns.

One test per action: make the change the way a person or a tool makes it (the
admin, the command line, the API), then read ``GET /api/v1/audit-events``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from awu.cli import main as awu_main
from awu.definitions.models import Definition, DefinitionVersion
from awu.definitions.services import definitions_install_defaults
from awu.ops.erasure import person_erase
from ledger import ingest, secrets
from ledger.models import Identity, Membership, ModelPrice, Person, Source, Team, TokenUsage
from ledger.pricing.book import forget_cached_book
from ledger.pricing.reprice import usage_reprice
from tests.conftest import Api, approval_off
from tests.ledger.factories import usage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _pinned(settings: Any) -> None:
    settings.AWU_OUTBOX_WAKE_TASK = ""
    settings.AWU_NOW = "2026-11-23T12:00:00Z"


@pytest.fixture
def auditor(api: Callable[..., Api]) -> Api:
    return api("audit:read")


def rows(auditor: Api, **filters: str) -> list[dict[str, Any]]:
    response = auditor.get("/api/v1/audit-events", filters)
    assert response.status_code == 200, response.content
    found: list[dict[str, Any]] = response.json()["results"]
    return found


def one(auditor: Api, action: str, **filters: str) -> dict[str, Any]:
    [row] = rows(auditor, action=action, **filters)
    return row


# --- definitions and rescore -------------------------------------------------


@pytest.fixture
def definition() -> Definition:
    return Definition.objects.create(key="signed", name="Signed", domain="legal")


def test_a_draft_made_in_the_admin_is_recorded_with_its_rules_and_the_user(
    admin_client: Client, definition: Definition, auditor: Api
) -> None:
    response = admin_client.post(
        reverse("admin:definitions_definitionversion_add"),
        {
            "definition": definition.pk,
            "trigger_type": "contract.signed",
            "trigger_condition": "",
            "requires": "[]",
            "survive_days": "0",
            "disqualifiers": "[]",
            "units": "2",
            "note": "two per contract",
        },
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "definition.drafted")
    assert (row["object_type"], row["object_id"], row["object_label"]) == (
        "definition",
        str(definition.pk),
        "signed v1",
    )
    assert (row["actor_kind"], row["actor"]) == ("user", "admin")
    assert row["after"]["units"] == "2"


def test_publishing_in_the_admin_is_recorded(
    admin_client: Client, definition: Definition, auditor: Api
) -> None:
    approval_off("legal")
    draft = DefinitionVersion.objects.create(
        definition=definition, version=1, trigger_type="contract.signed"
    )

    admin_client.post(reverse("admin:definitions_version_publish", args=[draft.pk]))

    row = one(auditor, "definition.published")
    assert row["before"] == {"status": "draft"}
    assert row["after"]["status"] == "published"
    assert row["actor"] == "admin"


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("rescore.requested", {"covers_from", "from_version"}),
        ("rescore.started", {"version", "covers_from", "superseded"}),
        ("rescore.finished", {"version", "triggers", "units", "completed", "entries"}),
    ],
)
def test_a_rescore_is_recorded_by_the_operator_with_its_counts(
    auditor: Api, action: str, fields: set[str]
) -> None:
    approval_off("legal")
    definitions_install_defaults(now=NOW)

    call_command(
        "rescore", "contract-signed", "--as", "ops-bob", "--reason", "CHG-42", stdout=StringIO()
    )

    row = one(auditor, action)
    assert (row["actor_kind"], row["actor"], row["reason"]) == ("operator", "ops-bob", "CHG-42")
    assert set(row["after"]) >= fields
    assert row["object_type"] == "definition"


def test_a_rescore_records_requested_before_started_before_finished(auditor: Api) -> None:
    approval_off("legal")
    definitions_install_defaults(now=NOW)

    call_command("rescore", "contract-signed", stdout=StringIO())

    order = [r["action"] for r in rows(auditor, order="oldest", object_type="definition")]
    assert [a for a in order if a.startswith("rescore.")] == [
        "rescore.requested",
        "rescore.started",
        "rescore.finished",
    ]


# --- four eyes: proposals and decisions ----------------------------------------


def _lead_and_approver() -> tuple[Any, Any]:
    from django.contrib.auth.models import User

    from ledger import access

    payments = Team.objects.create(slug="payments", name="Payments")
    sales = Team.objects.create(slug="sales", name="Sales")
    lead = User.objects.create_user("pat", is_staff=True)
    access.grant(user=lead, role=access.TEAM_LEAD, team=payments)
    approver = User.objects.create_user("sue", is_staff=True)
    access.grant(user=approver, role=access.TEAM_LEAD, team=sales)
    return lead, approver


def _proposed(kind: str = "publish") -> tuple[Any, Any, Any]:
    from awu.definitions import approvals

    lead, approver = _lead_and_approver()
    definition = Definition.objects.create(
        key="signed", name="Signed", domain="legal", owner_team=Team.objects.get(slug="payments")
    )
    draft = DefinitionVersion.objects.create(
        definition=definition, version=1, trigger_type="contract.signed"
    )
    change = approvals.change_propose(
        version=draft,
        by=lead,
        kind=kind,
        preview={"days": 30, "units_before": "3", "units_after": "5", "gained": "2", "lost": "0"},
        preview_days=30,
        now=NOW,
        note="two more",
    )
    return change, lead, approver


def test_a_proposal_in_the_admin_is_recorded_with_its_preview(auditor: Api) -> None:
    from django.contrib.auth.models import User

    from ledger import access

    lead, _ = _lead_and_approver()
    definition = Definition.objects.create(
        key="signed", name="Signed", domain="legal", owner_team=Team.objects.get(slug="payments")
    )
    draft = DefinitionVersion.objects.create(
        definition=definition, version=1, trigger_type="contract.signed"
    )
    client = Client()
    client.force_login(lead)
    response = client.post(
        reverse("admin:definitions_version_propose", args=[draft.pk]), {"note": "why not"}
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "definition.proposed")
    assert (row["actor"], row["reason"], row["before"]) == ("pat", "why not", {"status": "draft"})
    assert {"request", "units_before", "units_after", "gained", "lost"} <= set(row["after"])
    assert access.leads(User.objects.get(username="pat"), definition.owner_team_id)


def test_an_approval_is_recorded_with_the_preview_totals_and_the_reason(auditor: Api) -> None:
    from awu.definitions import approvals

    change, _, approver = _proposed()
    approvals.change_approve(change=change, by=approver, now=NOW, reason="looks right")

    row = one(auditor, "definition.approved")
    assert (row["after"]["gained"], row["reason"]) == ("2", "looks right")
    assert row["after"]["state"] == "approved"


def test_a_rejection_is_recorded_with_the_preview_totals_and_the_reason(auditor: Api) -> None:
    from awu.definitions import approvals

    change, _, approver = _proposed()
    approvals.change_reject(change=change, by=approver, now=NOW, reason="too generous")

    row = one(auditor, "definition.rejected")
    assert (row["after"]["units_after"], row["reason"]) == ("5", "too generous")


def test_a_withdrawal_is_recorded(auditor: Api) -> None:
    from awu.definitions import approvals

    change, lead, _ = _proposed()
    approvals.change_withdraw(change=change, by=lead, now=NOW, reason="not ready")

    row = one(auditor, "definition.withdrawn")
    assert (row["after"]["status"], row["reason"]) == ("draft", "not ready")


def test_a_rescore_approval_is_recorded(auditor: Api) -> None:
    from awu.definitions import approvals

    change, _, approver = _proposed("rescore")
    approvals.change_approve(change=change, by=approver, now=NOW, reason="after the close")

    row = one(auditor, "rescore.approved")
    assert (row["after"]["request"], row["reason"]) == (change.pk, "after the close")
    assert row["after"]["lost"] == "0"


def test_a_rescore_rejection_is_recorded(auditor: Api) -> None:
    from awu.definitions import approvals

    change, _, approver = _proposed("rescore")
    approvals.change_reject(change=change, by=approver, now=NOW, reason="quarter close")

    row = one(auditor, "rescore.rejected")
    assert (row["after"]["gained"], row["reason"]) == ("2", "quarter close")


# --- prices ------------------------------------------------------------------


def _price_form(**overrides: str) -> dict[str, str]:
    data = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "match": "claude-sonnet-4-5-20*",
        "effective_from_0": "2026-10-01",
        "effective_from_1": "00:00:00",
        "effective_to_0": "",
        "effective_to_1": "",
        "input": "3",
        "output": "15",
    }
    data.update(overrides)
    return data


def sonnet(rate: str = "3", start: datetime = datetime(2026, 10, 1, tzinfo=UTC)) -> ModelPrice:
    row = ModelPrice.objects.create(
        provider="anthropic",
        model="claude-sonnet-4-5",
        match="claude-sonnet-4-5-20*",
        effective_from=start,
        input=Decimal(rate),
        output=Decimal("15"),
    )
    forget_cached_book()
    return row


def priced_usage(day: int = 20) -> TokenUsage:
    record = usage(
        model="claude-sonnet-4-5",
        occurred_at=f"2026-10-{day:02d}T12:00:00Z",
        input_tokens=1000,
        output_tokens=0,
        cache_read_input_tokens=0,
    )
    [result] = ingest.usage_ingest(items=[record], now=NOW)
    return TokenUsage.objects.get(pk=result.id)


def test_a_price_added_in_the_admin_is_recorded(admin_client: Client, auditor: Api) -> None:
    response = admin_client.post(reverse("admin:ledger_modelprice_add"), _price_form())
    assert response.status_code == 302, response.content

    row = one(auditor, "price.added")
    assert Decimal(row["after"]["input"]) == Decimal("3")
    assert row["actor"] == "admin"


def test_a_price_closed_by_a_correction_is_recorded_with_its_end(
    admin_client: Client, auditor: Api
) -> None:
    old = sonnet()
    priced_usage()

    response = admin_client.post(
        reverse("admin:ledger_modelprice_correct", args=[old.pk]),
        {
            "effective_from": "2026-10-15T00:00:00Z",
            "reason": "the vendor raised it on Oct 15",
            "input": "4",
            "output": "15",
        },
    )
    assert response.status_code == 302, response.content

    closed = one(auditor, "price.closed")
    assert closed["object_id"] == str(old.pk)
    assert closed["before"] == {"effective_to": None}
    assert closed["after"]["effective_to"].startswith("2026-10-15T00:00:00")
    assert closed["reason"] == "the vendor raised it on Oct 15"


def test_a_reprice_dry_run_is_recorded_with_its_dollar_effect(auditor: Api) -> None:
    sonnet("3")
    priced_usage()
    ModelPrice.objects.filter(effective_from__year=2026).update(effective_to=NOW)
    sonnet("4", start=NOW)  # nothing changes inside October: a zero effect
    usage_reprice(
        provider="anthropic",
        model="claude-sonnet-4-5",
        start=datetime(2026, 10, 1, tzinfo=UTC),
        stop=datetime(2026, 11, 1, tzinfo=UTC),
        apply=False,
        now=NOW,
    )

    row = one(auditor, "reprice.dry_run")
    assert row["object_label"] == "anthropic/claude-sonnet-4-5"
    assert row["after"]["difference_usd"] == "0"


def test_an_applied_reprice_is_recorded_with_its_dollar_effect(auditor: Api) -> None:
    old = sonnet("3")
    priced_usage(20)
    ModelPrice.objects.filter(pk=old.pk).update(effective_to=datetime(2026, 10, 15, tzinfo=UTC))
    sonnet("4", start=datetime(2026, 10, 15, tzinfo=UTC))

    call_command(
        "reprice", "--provider", "anthropic", "--model", "claude-sonnet-4-5",
        "--from", "2026-10-01", "--to", "2026-10-31", "--apply", "--as", "finance-carol",
        stdout=StringIO(),
    )  # fmt: skip

    row = one(auditor, "reprice.applied")
    assert row["after"]["adjustments"] == 1
    assert Decimal(row["after"]["difference_usd"]) == Decimal("0.001")
    assert row["actor"] == "finance-carol"


# --- people, identities, memberships, teams ---------------------------------


@pytest.fixture
def alice() -> Person:
    return Person.objects.create(name="Alice", email="alice@example.com")


@pytest.fixture
def payments() -> Team:
    return Team.objects.create(slug="payments", name="Payments")


def _person_form(person: Person, **extra: str) -> dict[str, str]:
    data = {
        "name": person.name,
        "email": person.email or "",
        "identities-TOTAL_FORMS": "0",
        "identities-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    data.update(extra)
    return data


def test_an_identity_mapped_in_the_admin_is_recorded(
    admin_client: Client, alice: Person, auditor: Api
) -> None:
    response = admin_client.post(
        reverse("admin:ledger_identity_add"), {"value": "github:alice", "person": alice.pk}
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "identity.mapped")
    assert row["after"]["value"] == "github:alice"
    assert row["after"]["person"] == alice.pk


def test_an_identity_removed_in_the_admin_is_recorded_unmapped(
    admin_client: Client, alice: Person, auditor: Api
) -> None:
    identity = Identity.objects.create(value="github:alice", person=alice)

    response = admin_client.post(
        reverse("admin:ledger_identity_delete", args=[identity.pk]), {"post": "yes"}
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "identity.unmapped")
    assert row["before"] == {"value": "github:alice", "person": alice.pk, "origin": "admin"}
    assert not Identity.objects.filter(pk=identity.pk).exists()


def test_a_membership_started_on_the_person_page_is_recorded(
    admin_client: Client, alice: Person, payments: Team, auditor: Api
) -> None:
    response = admin_client.post(
        reverse("admin:ledger_person_change", args=[alice.pk]),
        _person_form(
            alice,
            **{
                "memberships-TOTAL_FORMS": "1",
                "memberships-0-team": str(payments.pk),
                "memberships-0-valid_from_0": "2026-11-01",
                "memberships-0-valid_from_1": "00:00:00",
            },
        ),
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "membership.started")
    assert row["after"]["team"] == "payments"
    assert row["after"]["valid_to"] is None


def test_a_membership_ended_on_the_person_page_is_recorded(
    admin_client: Client, alice: Person, payments: Team, auditor: Api
) -> None:
    membership = Membership.objects.create(
        person=alice, team=payments, valid_from=datetime(2026, 1, 1, tzinfo=UTC)
    )

    response = admin_client.post(
        reverse("admin:ledger_person_change", args=[alice.pk]),
        _person_form(
            alice,
            **{
                "memberships-TOTAL_FORMS": "1",
                "memberships-INITIAL_FORMS": "1",
                "memberships-0-id": str(membership.pk),
                "memberships-0-person": str(alice.pk),
                "memberships-0-team": str(payments.pk),
                "memberships-0-valid_from_0": "2026-01-01",
                "memberships-0-valid_from_1": "00:00:00",
                "memberships-0-valid_to_0": "2026-11-01",
                "memberships-0-valid_to_1": "00:00:00",
            },
        ),
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "membership.ended")
    assert row["before"]["valid_to"] is None
    assert row["after"]["valid_to"].startswith("2026-11-01")


def test_a_team_created_in_the_admin_is_recorded(admin_client: Client, auditor: Api) -> None:
    response = admin_client.post(
        reverse("admin:ledger_team_add"), {"slug": "legal", "name": "Legal", "domain": "legal"}
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "team.created")
    assert row["after"] == {"slug": "legal", "name": "Legal", "domain": "legal"}


def test_a_team_discovered_from_a_record_is_recorded_created_by_the_key(
    api: Callable[..., Api], auditor: Api
) -> None:
    writer = api("usage:write")
    response = writer.post("/api/v1/token-usage", usage(team="brand-new-team"))
    assert response.status_code == 201, response.content

    row = one(auditor, "team.created", object_type="team")
    assert row["object_label"] == "brand-new-team"
    assert row["actor_kind"] == "api_key"


def test_a_team_renamed_in_the_admin_is_recorded(
    admin_client: Client, payments: Team, auditor: Api
) -> None:
    response = admin_client.post(
        reverse("admin:ledger_team_change", args=[payments.pk]),
        {"name": "Payments & Billing", "domain": "engineering"},
    )
    assert response.status_code == 302, response.content

    row = one(auditor, "team.renamed")
    assert row["before"] == {"name": "Payments", "domain": ""}
    assert row["after"] == {"name": "Payments & Billing", "domain": "engineering"}


def test_a_team_merged_in_the_admin_is_recorded(
    admin_client: Client, payments: Team, auditor: Api
) -> None:
    stray = Team.objects.create(slug="paymnts", name="paymnts", status="discovered")

    admin_client.post(
        reverse("admin:ledger_team_changelist"),
        {"action": "merge", "_selected_action": [stray.pk], "into": payments.pk},
    )

    row = one(auditor, "team.merged")
    assert row["object_label"] == "paymnts"
    assert row["after"] == {"merged_into": "payments", "status": "confirmed"}


def test_a_team_confirmed_in_the_admin_is_recorded(admin_client: Client, auditor: Api) -> None:
    found = Team.objects.create(slug="growth", name="growth", status="discovered")

    admin_client.post(
        reverse("admin:ledger_team_changelist"),
        {"action": "confirm", "_selected_action": [found.pk]},
    )

    row = one(auditor, "team.confirmed")
    assert (row["object_id"], row["after"]) == (str(found.pk), {"status": "confirmed"})


# --- keys, secrets, erasure ---------------------------------------------------


def test_a_key_created_at_the_command_line_is_recorded_by_the_operator_named(
    auditor: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--as", "ops-dave", "--reason", "new deploy bot", "keys", "create", "deploy-bot"]
    assert awu_main([*argv, "--scope", "events:write"]) == 0

    row = one(auditor, "api_key.created", actor="ops-dave")
    assert row["reason"] == "new deploy bot"
    assert row["after"]["scopes"] == ["events:write"]
    assert row["object_label"].startswith("deploy-bot (")
    assert "awu_" not in str(row["after"]).replace(row["after"]["prefix"], "")


def test_a_key_revoked_in_the_admin_is_recorded(
    admin_client: Client, api: Callable[..., Api], auditor: Api
) -> None:
    from ledger.models import ApiKey

    api("events:write")
    victim = ApiKey.objects.get(scopes=["events:write"])

    admin_client.post(
        reverse("admin:ledger_apikey_changelist"),
        {"action": "revoke", "_selected_action": [victim.pk]},
    )

    row = one(auditor, "api_key.revoked")
    assert row["object_id"] == str(victim.pk)
    assert row["before"] == {"revoked_at": None}
    assert row["actor"] == "admin"


def test_a_source_secret_rotated_is_recorded_without_the_secret(auditor: Api) -> None:
    source = Source.objects.create(kind="github", slug="acme")
    secrets.source_set_secret(source=source, secret="first-secret-value")

    from datetime import timedelta

    secrets.source_set_secret(
        source=source, secret="second-secret-value", keep_previous_for=timedelta(hours=1)
    )

    row = one(auditor, "source.secret_rotated")
    assert row["object_label"] == "github:acme"
    assert row["after"]["previous_secret_live_until"] is not None
    assert "secret-value" not in str(rows(auditor))


def test_an_erasure_is_recorded_without_personal_data(alice: Person, auditor: Api) -> None:
    Identity.objects.create(value="alice@example.com", person=alice)

    report = person_erase(person_id=alice.pk, now=NOW, reason="GDPR request 17")

    row = one(auditor, "person.erased")
    assert (row["object_id"], row["object_label"]) == (str(alice.pk), report.pseudonym)
    assert row["reason"] == "GDPR request 17"
    assert "alice" not in str(row).lower()
