"""Definitions in the Django admin: versions, publishing and drafts.

A frozen version (published, or one that has scored work) is shown read-only;
"edit" means "new draft from this version". Publishing re-checks every
expression and refuses a version with problems.

:class:`DefinitionVersionAdmin` is registered by :mod:`awu.scoring.admin`, which
adds its preview page: a preview scores past events, and scoring depends on
definitions, never the other way round.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from awu.definitions import services
from awu.definitions.forms import DefinitionVersionForm
from awu.definitions.models import Definition, DefinitionVersion
from ledger import clock


class VersionInline(admin.TabularInline):
    model = DefinitionVersion
    fields = ["link", "status", "trigger_type", "covers_from", "published_at", "note"]
    readonly_fields = ["link", "status", "trigger_type", "covers_from", "published_at", "note"]
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ["-version"]

    @admin.display(description="version")
    def link(self, obj: DefinitionVersion) -> str:
        url = reverse("admin:definitions_definitionversion_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.version)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Definition)
class DefinitionAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "domain", "owner_team", "published_version", "draft_count"]
    list_filter = ["domain", "owner_team"]
    search_fields = ["key", "name", "description"]
    inlines = [VersionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The key names the definition in units, entries and reports: fixed once made.
        return ["key"] if obj is not None else []

    @admin.display(description="latest published")
    def published_version(self, obj: Definition) -> str:
        latest = obj.versions.filter(status=DefinitionVersion.Status.PUBLISHED).aggregate(
            n=Max("version")
        )["n"]
        return f"v{latest}" if latest else "-"

    @admin.display(description="drafts")
    def draft_count(self, obj: Definition) -> int:
        return obj.versions.filter(status=DefinitionVersion.Status.DRAFT).count()


class DefinitionVersionAdmin(admin.ModelAdmin):
    form = DefinitionVersionForm
    change_form_template = "admin/definitions/definitionversion/change_form.html"
    list_display = ["__str__", "status", "trigger_type", "covers_from", "published_at", "note"]
    list_filter = ["status", "definition__domain", "definition"]
    search_fields = ["definition__key", "note", "trigger_type"]
    actions = ["publish_selected", "draft_from_selected"]
    readonly_fields = ["version", "status", "covers_from", "published_at", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DefinitionVersion]:
        return super().get_queryset(request).select_related("definition")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = ["definition", "trigger_type", "trigger_condition", "requires"]
        editable += ["survive_days", "disqualifiers", "units", "incidents", "note"]
        return editable + (self.readonly_fields if obj is not None else [])

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None:
            return [*self.readonly_fields, "definition"]
        return []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Frozen versions are shown read-only: Django renders the view-only page.
        if obj is not None and services.version_is_frozen(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and services.version_is_frozen(obj):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(
        self, request: HttpRequest, obj: DefinitionVersion, form: Any, change: bool
    ) -> None:
        if not change:
            services.version_create_draft(version=obj)
            return
        services.version_update(
            version=obj, **{name: getattr(obj, name) for name in form.changed_data}
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        version = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if version is not None:
            context.update(
                frozen=services.version_is_frozen(version),
                is_draft=not version.is_published,
                problems=services.version_problems(version),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    # --- publish / new draft -----------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/publish/", wrap(self.publish_view), name="definitions_version_publish"),
            path("<int:pk>/new-draft/", wrap(self.draft_view), name="definitions_version_draft"),
            *super().get_urls(),
        ]

    def _publish(self, request: HttpRequest, version: DefinitionVersion) -> bool:
        try:
            services.definition_publish(version=version, now=clock.now())
        except services.DefinitionError as exc:
            details = "; ".join(m for ms in exc.problems.values() for m in ms)
            self.message_user(
                request, f"{exc}{': ' + details if details else ''}", level=messages.ERROR
            )
            return False
        self.message_user(request, f"Published {version}: it scores new triggers from now on.")
        return True

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(DefinitionVersion.objects.select_related("definition"), pk=pk)
        if request.method != "POST" or not super().has_change_permission(request):
            return HttpResponse(status=405 if request.method != "POST" else 403)
        self._publish(request, version)
        return HttpResponseRedirect(
            reverse("admin:definitions_definitionversion_change", args=[pk])
        )

    def draft_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(DefinitionVersion.objects.select_related("definition"), pk=pk)
        if request.method != "POST" or not self.has_add_permission(request):
            return HttpResponse(status=405 if request.method != "POST" else 403)
        draft = services.version_draft_from(version=version)
        self.message_user(request, f"Created draft {draft} from v{version.version}.")
        return HttpResponseRedirect(
            reverse("admin:definitions_definitionversion_change", args=[draft.pk])
        )

    @admin.action(description="Publish the selected drafts")
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[DefinitionVersion]) -> None:
        for version in queryset.filter(status=DefinitionVersion.Status.DRAFT):
            self._publish(request, version)

    @admin.action(description="New draft from each selected version")
    def draft_from_selected(
        self, request: HttpRequest, queryset: QuerySet[DefinitionVersion]
    ) -> None:
        for version in queryset:
            draft = services.version_draft_from(version=version)
            self.message_user(request, f"Created draft {draft} from v{version.version}.")
