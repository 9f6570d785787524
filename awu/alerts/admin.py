"""Budgets, channels and digest recipients in the Django admin; alerts and deliveries to read.

A budget is saved through ``services.budget_save`` (validated, audited); a
webhook's signing secret is typed once, stored encrypted and never shown again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from awu.alerts import delivery, services
from awu.alerts.models import (
    Alert,
    AlertTransition,
    Budget,
    Channel,
    Delivery,
    DigestRecipient,
    DigestRun,
)
from ledger import audit
from ledger.admin_site import RoleModelAdmin, rows_of_led_teams


@admin.register(Budget)
class BudgetAdmin(RoleModelAdmin):
    list_display = ("team", "monthly_usd", "target_awus_per_dollar", "updated_at")
    autocomplete_fields = ("team",)

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return rows_of_led_teams(request, queryset)

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        if change and not form.changed_data:
            return  # saved unchanged: nothing to record
        before = (
            {name: audit.jsonable(form.initial.get(name)) for name in services.BUDGET_FIELDS}
            if change
            else None
        )
        services.budget_save(budget=obj, before=before)


class ChannelForm(forms.ModelForm):
    url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", help_text="Webhook: where to POST."
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Webhook signing secret (HMAC-SHA256); stored encrypted, never shown. "
        "Leave empty to keep the current one.",
    )

    class Meta:
        model = Channel
        fields = ("name", "kind", "url", "recipients", "active")

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            channel.secret_encrypted = delivery.secret_encrypt(self.cleaned_data["secret"])
        if commit:
            channel.save()
        return channel


@admin.register(Channel)
class ChannelAdmin(RoleModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "url", "active", "has_secret")

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if form.cleaned_data.get("secret"):
                audit.record("alert_channel.secret_set", obj=obj, after={"secret_set": True})

    @admin.display(boolean=True, description="signed")
    def has_secret(self, obj: Channel) -> bool:
        return bool(obj.secret_encrypted)


@admin.register(DigestRecipient)
class DigestRecipientAdmin(RoleModelAdmin):
    list_display = ("email", "active")


class _ReadOnly(RoleModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(_ReadOnly):
    list_display = ("id", "rule", "subject", "period_key", "state", "opened_at", "acknowledged_by")
    list_filter = ("state", "rule")

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return rows_of_led_teams(request, queryset)


@admin.register(AlertTransition)
class AlertTransitionAdmin(_ReadOnly):
    list_display = ("id", "alert", "state", "at", "actor")


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    # Failed deliveries stay here, visible, with their last error.
    list_display = (
        "id",
        "transition",
        "channel",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("state", "channel")


@admin.register(DigestRun)
class DigestRunAdmin(_ReadOnly):
    list_display = ("week", "email", "state", "attempts", "sent_at", "last_error")
    list_filter = ("state",)
