"""Dead letters (replayable), ignored-delivery counts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.models import DeadLetter, IgnoredDeliveries
from integrations.registry import load_vendors
from integrations.services import dead_letter_replay


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ["id", "vendor", "source", "received_at", "short_error", "replayed_at"]
    list_filter = ["vendor", "source", ("replayed_at", admin.EmptyFieldListFilter)]
    search_fields = ["error"]
    readonly_fields = [
        "source", "vendor", "received_at", "url", "headers", "body_text", "error",
        "replayed_at", "replay_result",
    ]  # fmt: skip
    exclude = ["body"]
    actions = ["replay"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, obj: DeadLetter) -> str:
        return obj.error[:120]

    @admin.display(description="body")
    def body_text(self, obj: DeadLetter) -> str:
        return bytes(obj.body)[:20_000].decode("utf-8", errors="replace")

    @admin.action(description="Replay the selected deliveries (after fixing the mapping)")
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        vendors = load_vendors()
        stored = failing = 0
        for letter in queryset.select_related("source"):
            vendor = vendors.get(letter.vendor)
            if vendor is None:
                failing += 1
                continue
            outcome = dead_letter_replay(letter=letter, vendor=vendor)
            if outcome.dead_letter is None:
                stored += 1
            else:
                failing += 1
        level = messages.SUCCESS if not failing else messages.WARNING
        self.message_user(request, f"Replayed: {stored} stored, {failing} still failing.", level)


@admin.register(IgnoredDeliveries)
class IgnoredDeliveriesAdmin(admin.ModelAdmin):
    list_display = ["source", "reason", "count", "last_seen_at"]
    list_filter = ["source"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
