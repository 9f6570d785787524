"""Dead letters (replayable), ignored-delivery counts, OTLP series, unmapped actors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from integrations.models import (
    ActorProposal,
    DeadLetter,
    IgnoredDeliveries,
    MetricSeries,
    UnmappedActor,
)
from integrations.selectors import unmapped_actors
from integrations.services import dead_letter_replay, proposal_accept, unmapped_actor_map
from integrations.webhooks.registry import load_vendors
from ledger import clock
from ledger.admin import ReadOnlyAdmin
from ledger.admin_site import RoleModelAdmin
from ledger.errors import Conflict
from ledger.models import Identity


@admin.register(DeadLetter)
class DeadLetterAdmin(RoleModelAdmin):
    list_display = ["id", "vendor", "source", "received_at", "short_error", "replayed_at"]
    list_filter = ["vendor", "source", ("replayed_at", admin.EmptyFieldListFilter)]
    search_fields = ["error"]
    readonly_fields = [
        "source", "vendor", "received_at", "url", "headers", "body_text", "error",
        "replayed_at", "replay_result",
    ]  # fmt: skip
    exclude = ["body"]
    actions = ["replay"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, obj: DeadLetter) -> str:
        return obj.error[:120]

    @admin.display(description="body")
    def body_text(self, obj: DeadLetter) -> str:
        return bytes(obj.body)[:20_000].decode("utf-8", errors="replace")

    @admin.action(
        description="Replay the selected deliveries (after fixing the mapping)",
        permissions=["change"],
    )
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        vendors = load_vendors()
        stored = failing = 0
        for letter in queryset.select_related("source"):
            vendor = vendors.get(letter.vendor)
            if vendor is None:
                failing += 1
                continue
            outcome = dead_letter_replay(letter=letter, vendor=vendor, now=clock.now())
            if outcome.dead_letter is None:
                stored += 1
            else:
                failing += 1
        level = messages.SUCCESS if not failing else messages.WARNING
        self.message_user(request, f"Replayed: {stored} stored, {failing} still failing.", level)


@admin.register(IgnoredDeliveries)
class IgnoredDeliveriesAdmin(RoleModelAdmin):
    list_display = ["source", "reason", "count", "last_seen_at"]
    list_filter = ["source"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MetricSeries)
class MetricSeriesAdmin(RoleModelAdmin):
    """Read-only: the last value of each cumulative OTLP series (what deltas are taken from)."""

    list_display = ["source", "metric", "value", "time_unix_nano", "updated_at"]
    list_filter = ["source", "metric"]
    search_fields = ["key", "metric"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UnmappedActor)
class UnmappedActorAdmin(ReadOnlyAdmin):
    """Actors seen on events and usage that no Identity maps to a person, with one-click mapping.

    The list is not a table: it is computed by ``integrations.selectors.unmapped_actors``
    over the last ``WINDOW_DAYS`` days. Each row links to the Identity add form with
    the value filled in (to map it to an existing person), and has a button that
    creates a person named after the actor and the identity in one POST.
    """

    WINDOW_DAYS = 90
    LIMIT = 200

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "map/",
                self.admin_site.admin_view(self.map_view),
                name="integrations_unmappedactor_map",
            )
        ]
        return own + super().get_urls()

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        since = clock.now() - timedelta(days=self.WINDOW_DAYS)
        add_identity = reverse("admin:ledger_identity_add")
        rows = [
            {
                "actor": row.actor,
                "events": row.events,
                "usage_records": row.usage_records,
                "last_seen": row.last_seen,
                "add_identity_url": f"{add_identity}?{urlencode({'value': row.actor})}",
                "proposals": row.proposals,
            }
            for row in unmapped_actors(since=since, limit=self.LIMIT)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Unmapped actors",
            "opts": self.model._meta,
            "rows": rows,
            "window_days": self.WINDOW_DAYS,
            "limit": self.LIMIT,
            "can_map": request.user.has_perm("ledger.add_identity")
            and request.user.has_perm("ledger.add_person"),
            "map_url": reverse("admin:integrations_unmappedactor_map"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/integrations/unmapped_actors.html", context)

    def map_view(self, request: HttpRequest) -> HttpResponse:
        """POST actor=<value>: create a person named after it and map the actor to them;
        POST proposal=<id>: accept that proposal (map the login to its person)."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:integrations_unmappedactor_changelist"))
        if not (
            request.user.has_perm("ledger.add_identity")
            and request.user.has_perm("ledger.add_person")
        ):
            raise PermissionDenied
        proposal_id = request.POST.get("proposal") or ""
        if proposal_id:
            self._accept(request, proposal_id)
            return HttpResponseRedirect(reverse("admin:integrations_unmappedactor_changelist"))
        actor = (request.POST.get("actor") or "").strip()
        if not actor or len(actor) > Identity._meta.get_field("value").max_length:  # type: ignore[operator]
            self.message_user(request, "No actor given, or it is too long.", messages.ERROR)
        else:
            identity = unmapped_actor_map(actor=actor)
            self.message_user(
                request, f"{actor} is now mapped to {identity.person}.", messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:integrations_unmappedactor_changelist"))

    def _accept(self, request: HttpRequest, proposal_id: str) -> None:
        proposal = (
            ActorProposal.objects.select_related("person")
            .filter(pk=int(proposal_id) if proposal_id.isdigit() else 0)
            .filter(status=ActorProposal.Status.OPEN)
            .first()
        )
        if proposal is None:
            self.message_user(request, "That proposal is no longer open.", messages.ERROR)
            return
        try:
            identity = proposal_accept(proposal=proposal)
        except Conflict as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return
        self.message_user(
            request, f"{identity.value} is now mapped to {identity.person}.", messages.SUCCESS
        )
