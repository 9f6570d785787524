"""Budgets: refused at save when negative or not a decimal, audited when set or changed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from awu.alerts import services
from awu.alerts.models import Budget
from ledger.models import AuditEvent
from tests.awu.reports import build


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("monthly_usd", Decimal("-1")),
        ("monthly_usd", Decimal(0)),
        ("target_awus_per_dollar", Decimal("-0.5")),
    ],
)
def test_a_negative_or_zero_budget_is_refused_naming_the_field(
    db: None, field: str, value: Decimal
) -> None:
    budget = Budget(team=build.team("payments"), monthly_usd=Decimal(100))
    setattr(budget, field, value)
    with pytest.raises(ValidationError) as refused:
        services.budget_save(budget=budget)
    assert field in refused.value.message_dict
    assert not Budget.objects.exists()


def test_the_database_refuses_a_negative_budget_too(db: None) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(team=build.team("payments"), monthly_usd=Decimal(-5))


def test_setting_and_changing_a_budget_is_audited(db: None) -> None:
    budget = services.budget_save(
        budget=Budget(team=build.team("payments"), monthly_usd=Decimal(100))
    )
    budget.monthly_usd = Decimal(250)
    services.budget_save(budget=budget, before={"monthly_usd": "100.00"})
    actions = list(
        AuditEvent.objects.filter(object_type="budget")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["budget.set", "budget.changed"]


@pytest.mark.parametrize("value", ["-10", "abc", "1e999x"])
def test_the_admin_refuses_a_bad_budget_with_the_field_named(db: None, value: str) -> None:
    User.objects.create_superuser("root", "root@example.com", "pw-root-1")
    client = Client()
    client.login(username="root", password="pw-root-1")
    team = build.team("payments")
    response = client.post(
        "/admin/alerts/budget/add/",
        {"team": team.pk, "monthly_usd": value, "target_awus_per_dollar": ""},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "monthly_usd" in response.context["adminform"].form.errors
    assert not Budget.objects.exists()


def test_the_admin_saves_a_good_budget_audited(db: None) -> None:
    User.objects.create_superuser("root", "root@example.com", "pw-root-1")
    client = Client()
    client.login(username="root", password="pw-root-1")
    team = build.team("payments")
    response = client.post(
        "/admin/alerts/budget/add/",
        {"team": team.pk, "monthly_usd": "1200.50", "target_awus_per_dollar": "0.02"},
    )
    assert response.status_code == 302
    assert Budget.objects.get().monthly_usd == Decimal("1200.50")
    assert AuditEvent.objects.filter(action="budget.set", actor="root").exists()


def test_a_channel_secret_is_stored_encrypted_and_audited(db: None) -> None:
    from awu.alerts.models import Channel
    from ledger import secrets

    User.objects.create_superuser("root", "root@example.com", "pw-root-1")
    client = Client()
    client.login(username="root", password="pw-root-1")
    response = client.post(
        "/admin/alerts/channel/add/",
        {
            "name": "slack",
            "kind": "webhook",
            "url": "https://hooks.example.com/x",
            "secret": "s3cr3t-value",
            "active": "on",
        },
    )
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert "s3cr3t-value" not in channel.secret_encrypted
    assert secrets.decrypt(channel.secret_encrypted) == "s3cr3t-value"
    event = AuditEvent.objects.get(action="alert_channel.secret_set")
    assert "s3cr3t" not in str(event.after)


def test_a_webhook_channel_needs_a_url(db: None) -> None:
    User.objects.create_superuser("root", "root@example.com", "pw-root-1")
    client = Client()
    client.login(username="root", password="pw-root-1")
    response = client.post(
        "/admin/alerts/channel/add/", {"name": "x", "kind": "webhook", "url": ""}
    )
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors


def test_changing_a_budget_in_the_admin_records_before_and_after(db: None) -> None:
    User.objects.create_superuser("root", "root@example.com", "pw-root-1")
    client = Client()
    client.login(username="root", password="pw-root-1")
    team = build.team("payments")
    budget = services.budget_save(budget=Budget(team=team, monthly_usd=Decimal(100)))
    url = f"/admin/alerts/budget/{budget.pk}/change/"
    form = {"team": team.pk, "monthly_usd": "250", "target_awus_per_dollar": ""}
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302  # unchanged: not recorded again
    changed = AuditEvent.objects.get(action="budget.changed")
    assert changed.before == {"monthly_usd": "100.00", "target_awus_per_dollar": None}
    assert changed.after == {"monthly_usd": "250.00", "target_awus_per_dollar": None}
