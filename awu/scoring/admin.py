"""Scoring in the admin: work units and AWU entries (read-only browsers with their
evidence), and the definition version pages with their preview on past events.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from awu.definitions.admin import DefinitionVersionAdmin
from awu.definitions.models import DefinitionVersion
from awu.scoring.models import AwuEntry, WorkUnit
from awu.scoring.preview import definition_preview, definition_preview_diff
from ledger import access, clock
from ledger.admin import ReadOnlyAdmin
from ledger.admin_site import rows_of_led_teams
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


def in_scope(request: HttpRequest, obj: Any) -> bool:
    if obj is None or access.is_admin_user(request.user):
        return True
    if access.FINANCE in access.roles_of(request.user):
        return True
    return obj.team_id is not None and obj.team_id in access.lead_team_ids(request.user)


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

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return rows_of_led_teams(request, queryset)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and in_scope(request, obj)

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

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return rows_of_led_teams(request, queryset)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and in_scope(request, obj)

    @admin.display(description="unit")
    def unit_link(self, obj: AwuEntry) -> SafeString:
        url = reverse("admin:scoring_workunit_change", args=[obj.unit_id])
        return format_html('<a href="{}">{}</a>', url, obj.unit_id)


class PreviewForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=3650, initial=30, label="Last N days")


@admin.register(DefinitionVersion)
class DefinitionVersionWithPreviewAdmin(DefinitionVersionAdmin):
    """The definitions app's version admin plus its "Preview on past events" page."""

    change_form_template = "admin/scoring/definitionversion/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/preview/", view, name="definitions_version_preview"),
            *super().get_urls(),
        ]

    def preview_diff(self, version: DefinitionVersion, days: int) -> dict[str, Any]:
        return definition_preview_diff(version=version, days=days, now=clock.now())

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(DefinitionVersion.objects.select_related("definition"), pk=pk)
        # Previewing is part of drafting: an admin, or a lead of the owning team.
        if not self.may_edit(request, version):
            return HttpResponse(status=403)
        form = PreviewForm(request.GET or {"days": 30})
        preview = None
        if form.is_valid():
            preview = definition_preview(
                version=version, days=form.cleaned_data["days"], now=clock.now()
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview of {version}",
            "version": version,
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, "admin/scoring/definitionversion/preview.html", context)
