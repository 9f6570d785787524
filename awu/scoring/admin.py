"""Work units and AWU entries in the admin: read-only browsers with their evidence."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from awu.scoring.models import AwuEntry, WorkUnit
from ledger.admin import ReadOnlyAdmin
from ledger.models import WorkEvent


def _event_url(event_id: int) -> str | None:
    try:
        return reverse("admin:ledger_workevent_change", args=[event_id])
    except NoReverseMatch:
        return None


class EntryInline(admin.TabularInline):
    model = AwuEntry
    fields = ["delta", "state", "reason", "created_at", "effective_at"]
    readonly_fields = ["delta", "state", "reason", "created_at", "effective_at"]
    extra = 0
    can_delete = False
    ordering = ["id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WorkUnit)
class WorkUnitAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "definition", "state", "units", "credited", "actor", "team", "triggered_at",
        "completed_at", "superseded_at",
    ]  # fmt: skip
    list_filter = ["state", "version__definition", "team", "version__definition__domain"]
    search_fields = ["actor", "subject", "=trigger_event_id"]
    date_hierarchy = "triggered_at"
    readonly_fields = ["evidence_links"]
    inlines = [EntryInline]
    list_select_related = ["version__definition", "team"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkUnit]:
        return super().get_queryset(request).select_related("version__definition", "team")

    @admin.display(description="definition", ordering="version__definition__key")
    def definition(self, obj: WorkUnit) -> str:
        return str(obj.version)

    @admin.display(description="evidence")
    def evidence_links(self, obj: WorkUnit) -> SafeString:
        events = {
            e.id: e
            for e in WorkEvent.objects.filter(id__in=obj.evidence).only("id", "type", "occurred_at")
        }
        rows = []
        for event_id in obj.evidence:
            event = events.get(event_id)
            label = (
                f"{event_id} {event.type} {event.occurred_at:%Y-%m-%d %H:%M}"
                if event
                else str(event_id)
            )
            url = _event_url(event_id)
            rows.append((url, label) if url else ("#", label))
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a>', rows)


@admin.register(AwuEntry)
class AwuEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "unit_link",
        "definition",
        "domain",
        "delta",
        "state",
        "created_at",
        "effective_at",
    ]
    list_filter = ["state", "definition", "domain", "team_id"]
    date_hierarchy = "created_at"
    list_select_related = ["definition"]

    @admin.display(description="unit")
    def unit_link(self, obj: AwuEntry) -> SafeString:
        url = reverse("admin:scoring_workunit_change", args=[obj.unit_id])
        return format_html('<a href="{}">{}</a>', url, obj.unit_id)
