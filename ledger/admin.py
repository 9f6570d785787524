"""The ledger in the Django admin.

Sources, people, teams, identities, API keys and role grants are edited here;
the price book in ledger.admin_prices.
Work events and token usage are read-only browsers: the ledger is append-only,
so there is no add, change or delete for them, for anyone.

Who may do what is the roles' (ledger.permissions, docs/security.md): every
ModelAdmin here asks them through ledger.admin_site.RoleModelAdmin. A team lead
sees and edits the identities and memberships of the people in the teams they
lead, and no one else's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ledger import access, auth, clock, directory, permissions, secrets, teams
from ledger.admin_prices import ModelPriceAdmin  # registers the price book
from ledger.admin_site import RoleModelAdmin, allowed
from ledger.errors import DomainError
from ledger.models import (
    ApiKey,
    AuditEvent,
    CostAdjustment,
    Identity,
    Membership,
    Person,
    RoleGrant,
    ServiceName,
    Source,
    Team,
    TokenUsage,
    WorkEvent,
)
from ledger.service_names import service_events_rescore

__all__ = ["ModelPriceAdmin"]


class SourceForm(forms.ModelForm):
    """Secrets are write-only: the form never shows them, only takes new ones."""

    new_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Set or rotate the signing secret. Leave empty to keep the current one.",
    )
    keep_previous_hours = forms.FloatField(
        required=False,
        min_value=0,
        initial=24,
        help_text="When rotating, keep the old secret valid this many hours (two live secrets).",
    )

    class Meta:
        model = Source
        fields = ["kind", "slug", "name", "config", "enabled"]


@admin.register(Source)
class SourceAdmin(RoleModelAdmin):
    form = SourceForm
    list_display = ["__str__", "name", "enabled", "has_secret", "rotating", "created_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["slug", "name"]

    @admin.display(boolean=True, description="secret set")
    def has_secret(self, obj: Source) -> bool:
        return bool(obj.secret_encrypted)

    @admin.display(description="previous secret live until")
    def rotating(self, obj: Source) -> Any:
        expires = obj.previous_secret_expires_at
        return expires if expires and expires > clock.now() else "—"

    def save_model(self, request: HttpRequest, obj: Source, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        new_secret = form.cleaned_data.get("new_secret")
        if new_secret:
            hours = form.cleaned_data.get("keep_previous_hours") or 0
            secrets.source_set_secret(
                source=obj,
                secret=new_secret,
                keep_previous_for=timedelta(hours=hours) if change and hours else None,
            )
            messages.success(request, "The signing secret was updated.")


class PersonPartInline(admin.TabularInline):
    """A person's identities or memberships: editable by whoever may change the
    person (an admin, or a lead of a team the person is in); each row saved is
    checked again in ``PersonAdmin.save_formset``."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allowed(request, "ledger.view_person", obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allowed(request, "ledger.change_person", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allowed(request, "ledger.change_person", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allowed(request, "ledger.change_person", obj)


class MembershipInline(PersonPartInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["team"]
    fields = ["team", "valid_from", "valid_to", "recorded_at", "origin"]
    readonly_fields = ["recorded_at", "origin"]


class IdentityInline(PersonPartInline):
    model = Identity
    extra = 0
    fields = ["value", "recorded_at", "origin"]
    readonly_fields = ["recorded_at", "origin"]


def history_save(obj: Identity | Membership, changed: list[str]) -> None:
    """Save an admin form's identity or membership the way the directory keeps them:
    a new row is recorded; an edit retracts the row and records its successor."""
    if obj.pk is None:
        directory.add(obj)
    elif changed:
        original = type(obj).objects.get(pk=obj.pk)
        directory.revise(original, **{name: getattr(obj, name) for name in changed})


def _label(model: Any) -> str:
    return str(model._meta.model_name)


def check_row(request: HttpRequest, action: str, obj: Identity | Membership) -> None:
    """403 unless the user may ``action`` this identity or membership (for a
    membership: lead both the person and its team)."""
    if not allowed(request, f"ledger.{action}_{_label(type(obj))}", obj):
        raise PermissionDenied


@admin.register(Person)
class PersonAdmin(RoleModelAdmin):
    list_display = ["name", "email", "active", "department", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "email", "user_name", "external_id", "identities__value"]
    autocomplete_fields = ["manager"]
    readonly_fields = ["directory_attributes"]  # written by SCIM provisioning only
    inlines = [IdentityInline, MembershipInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a person who leaves is deactivated; their past work stays

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if access.is_admin_user(request.user):
            return queryset
        return queryset.filter(pk__in=permissions.led_people(request.user).values("pk"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None or access.is_admin_user(request.user):
            return self.readonly_fields
        # A team lead edits the person's identities and memberships, not the person.
        return [f.name for f in Person._meta.fields if f.editable and f.name != "id"] + list(
            self.readonly_fields
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        formset.save(commit=False)
        # Every row must be one the user may touch, as it was and as it will be;
        # a refusal is a 403 and the admin's transaction saves nothing.
        for obj in formset.deleted_objects:
            check_row(request, "delete", obj)
        for obj in formset.new_objects:
            check_row(request, "add", obj)
        for obj, _changed in formset.changed_objects:
            check_row(request, "change", type(obj).objects.get(pk=obj.pk))
            check_row(request, "change", obj)
        for obj in formset.deleted_objects:
            directory.retract(obj)
        for obj in formset.new_objects:
            history_save(obj, [])
        for obj, changed in formset.changed_objects:
            history_save(obj, changed)


# The team fields of the org tree, written through ledger.directory.
_TEAM_TREE_FIELDS = ("parent", "cost_centre", "external_id")


class TeamActionForm(ActionForm):
    into = forms.ModelChoiceField(
        queryset=Team.objects.filter(merged_into__isnull=True),
        required=False,
        label="Merge into",
        help_text="For the merge action.",
    )


@admin.register(Team)
class TeamAdmin(RoleModelAdmin):
    """Teams; those discovered from records wait here to be confirmed or merged.

    A slug is what records name, so it cannot be edited once the team exists
    (rename with ``name``; fold a misnamed team into the right one with the
    merge action). Teams are never deleted: history points at them.
    """

    list_display = [
        "slug", "name", "parent", "domain", "cost_centre", "status", "merged_into", "members",
    ]  # fmt: skip
    list_filter = ["status", "domain", "directory_group"]
    autocomplete_fields = ["parent"]
    search_fields = ["slug", "name", "external_id"]
    action_form = TeamActionForm
    actions = ["confirm", "merge"]

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        user = request.user
        if access.is_admin_user(user) or access.FINANCE in access.roles_of(user):
            return queryset
        return queryset.filter(pk__in=access.lead_team_ids(user))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .select_related("merged_into")
            .annotate(
                member_count=Count(
                    "memberships",
                    filter=Q(
                        memberships__retracted_at__isnull=True,
                        memberships__valid_to__isnull=True,
                    ),
                )
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # directory_group and directory_attributes are SCIM provisioning's to write.
        scim = ["directory_group", "directory_attributes"]
        if obj is not None:
            return ["slug", "status", "merged_into", *scim]
        return ["status", "merged_into", *scim]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        # Through the directory's own writes: the org-tree fields are kept (and a
        # parent cycle or an external id in use is refused), and audited.
        tree = {f: form.cleaned_data[f] for f in _TEAM_TREE_FIELDS if f in form.cleaned_data}
        try:
            if change:
                changed = {f: form.cleaned_data[f] for f in form.changed_data if f in tree}
                if changed:  # first: a refused tree change saves nothing
                    directory.team_update(team=obj, origin=Membership.Origin.ADMIN, **changed)
                teams.team_rename(team=obj, name=obj.name, domain=obj.domain)
            else:
                made = directory.team_create(
                    slug=obj.slug, name=obj.name, domain=obj.domain, **tree
                )
                obj.pk = made.pk
                obj.refresh_from_db()
        except DomainError as exc:
            reasons = "; ".join(
                f"{field}: {', '.join(why)}" for field, why in getattr(exc, "errors", {}).items()
            )
            messages.error(request, f"Not saved: {exc.detail} {reasons}".strip())

    @admin.display(description="members now", ordering="member_count")
    def members(self, obj: Any) -> int:
        return int(obj.member_count)

    @admin.action(description="Confirm the selected discovered teams", permissions=["change"])
    def confirm(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        changed = teams.teams_confirm(teams=queryset)
        self.message_user(request, f"{changed} team(s) confirmed.", messages.SUCCESS)

    @admin.action(
        description="Merge the selected teams into the team chosen below", permissions=["change"]
    )
    def merge(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        into = TeamActionForm(request.POST).data.get("into")
        target = Team.objects.filter(pk=into, merged_into__isnull=True).first() if into else None
        if target is None:
            self.message_user(request, "Choose the team to merge into.", messages.ERROR)
            return
        merged = []
        for team in queryset.exclude(pk=target.pk):
            try:
                teams.team_merge(team=team, into=target)
            except teams.TeamMergeError as exc:
                self.message_user(request, f"{team.slug}: {exc}", messages.ERROR)
                continue
            merged.append(team.slug)
        if merged:
            self.message_user(
                request,
                f"Merged {', '.join(merged)} into {target.slug}: reports count them as"
                f" {target.slug}, past included.",
                messages.SUCCESS,
            )


@admin.register(Identity)
class IdentityAdmin(RoleModelAdmin):
    list_display = ["value", "person", "recorded_at", "origin"]
    list_filter = ["origin"]
    search_fields = ["value", "person__name", "person__email"]
    autocomplete_fields = ["person"]

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if access.is_admin_user(request.user):
            return queryset
        return queryset.filter(person__in=permissions.led_people(request.user))

    def save_model(self, request: HttpRequest, obj: Identity, form: Any, change: bool) -> None:
        history_save(obj, list(form.changed_data) if change else [])

    def delete_model(self, request: HttpRequest, obj: Identity) -> None:
        directory.retract(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Identity]) -> None:
        for obj in queryset:
            directory.retract(obj)


@admin.register(ServiceName)
class ServiceNameAdmin(RoleModelAdmin):
    """A source's name for a service (PagerDuty ``PF9KMXH``) -> the deploys' name."""

    list_display = ["external_name", "service", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["external_name", "service"]

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The source's events naming it (and any name it replaced) are scored again.
        for name in {obj.external_name, form.initial.get("external_name") or obj.external_name}:
            service_events_rescore(source_id=obj.source_id, external_name=name)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "teams"]


class ApiKeyTeamsForm(forms.ModelForm):
    """A key's only editable field: the teams it is limited to."""

    class Meta:
        model = ApiKey
        fields = ["teams"]


@admin.register(ApiKey)
class ApiKeyAdmin(RoleModelAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "prefix",
        "scope_list",
        "team_list",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    filter_horizontal = ["teams"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is not None:
            return ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
        return []

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:
            # Name and scopes are never edited (revoke and create a new key); the
            # teams it is limited to are, through ledger.auth (audited).
            kwargs["form"] = ApiKeyTeamsForm
            kwargs["fields"] = ["teams"]
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="teams")
    def team_list(self, obj: ApiKey) -> str:
        return ", ".join(sorted(t.slug for t in obj.teams.all())) or "every team"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return super().get_queryset(request).prefetch_related("teams")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The teams were set by save_model through ledger.auth (with the audit
        # row), never by the form's plain m2m save.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        teams = list(form.cleaned_data.get("teams") or ())
        if change:
            auth.api_key_set_teams(key_id=obj.pk, teams=teams)
            return
        row, key = auth.api_key_create(
            name=obj.name, scopes=form.cleaned_data["scopes"], teams=teams
        )
        obj.pk = row.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            format_html("New API key (shown once, copy it now): <code>{}</code>", key),
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for row in queryset:
            auth.api_key_revoke(key_id=row.pk)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


class ReadOnlyAdmin(RoleModelAdmin):
    """For append-only records: browse and search, never add, change or delete."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._asks(request, "view", obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._asks(request, "view")


@admin.register(WorkEvent)
class WorkEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "occurred_at", "actor", "team", "subject", "source"]
    list_filter = ["type", "source", "occurred_at"]
    search_fields = ["external_id", "actor", "subject"]
    date_hierarchy = "occurred_at"
    list_select_related = ["source"]
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[WorkEvent], search_term: str
    ) -> tuple[QuerySet[WorkEvent], bool]:
        # "commit:9f1c2e7" finds events by ref through the GIN index.
        if ":" in search_term and " " not in search_term:
            return queryset.filter(ref_keys__contains=[search_term]), False
        return super().get_search_results(request, queryset, search_term.replace(":", " "))


class UnpricedFilter(admin.SimpleListFilter):
    title = "pricing"
    parameter_name = "pricing"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("unpriced", "Unpriced (no reported cost, no price)"),
            ("computed", "Priced from the price book"),
            ("reported", "Cost reported by the source"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(cost_source=self.value())
        return queryset


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "occurred_at", "actor", "provider", "model", "input_tokens", "output_tokens",
        "cost_usd", "cost_source",
    ]  # fmt: skip
    list_filter = [UnpricedFilter, "provider", "occurred_at"]
    search_fields = ["external_id", "actor", "model"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        unpriced = (
            TokenUsage.objects.filter(cost_source=TokenUsage.CostSource.UNPRICED)
            .values("provider", "model")
            .annotate(records=Count("id"))
            .order_by("-records")[:20]
        )
        extra_context = {**(extra_context or {}), "unpriced_models": list(unpriced)}
        if unpriced:
            listing = "; ".join(f"{u['provider']}/{u['model']}: {u['records']}" for u in unpriced)
            messages.warning(
                request,
                f"Unpriced usage (add a price book entry, then reprice): {listing}",
            )
        return super().changelist_view(request, extra_context)


@admin.register(CostAdjustment)
class CostAdjustmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "usage_id", "delta_usd", "price", "reason", "created_at"]
    date_hierarchy = "created_at"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail: read-only for everyone (the database refuses edits anyway)."""

    list_display = ["id", "at", "action", "object_type", "object_label", "actor_kind", "actor"]
    list_filter = ["object_type", "action", "actor_kind", "at"]
    search_fields = ["actor", "object_label", "object_id", "reason"]
    date_hierarchy = "at"
    show_full_result_count = False
    fields = [
        "at", "actor_kind", "actor", "actor_id", "action", "object_type", "object_id",
        "object_label", "before", "after", "reason",
    ]  # fmt: skip


class RoleGrantForm(forms.ModelForm):
    reason = forms.CharField(
        max_length=400, help_text="Why: recorded in the audit trail with the grant."
    )

    class Meta:
        model = RoleGrant
        fields = ["user", "role", "team"]


class RevokeActionForm(ActionForm):
    reason = forms.CharField(
        required=False, max_length=400, label="Reason", help_text="For the revoke action."
    )


@admin.register(RoleGrant)
class RoleGrantAdmin(RoleModelAdmin):
    """Roles (admins only): granted and revoked through ledger.access, audited with
    the reason given. A grant is never edited: revoke it and grant another. Grants
    with origin ``oidc`` are replaced at the holder's next sign-in."""

    form = RoleGrantForm
    list_display = ["user", "role", "team", "origin", "granted_at"]
    list_filter = ["role", "origin", "team"]
    search_fields = ["user__username", "user__email", "team__slug"]
    autocomplete_fields = ["team"]
    action_form = RevokeActionForm
    actions = ["revoke_selected"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request)

    def get_actions(self, request: HttpRequest) -> Any:
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # revoke_selected records the reason
        return found

    def save_model(self, request: HttpRequest, obj: RoleGrant, form: Any, change: bool) -> None:
        row = access.grant(
            user=obj.user, role=obj.role, team=obj.team, reason=form.cleaned_data["reason"]
        )
        obj.pk = row.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: RoleGrant) -> None:
        access.revoke(row=obj, reason="revoked in the admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoleGrant]) -> None:
        for row in queryset.select_related("user", "team"):
            access.revoke(row=row, reason="revoked in the admin")

    @admin.action(description="Revoke the selected grants (reason below)", permissions=["delete"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[RoleGrant]) -> None:
        reason = (request.POST.get("reason") or "").strip()
        if not reason:
            self.message_user(request, "Give the reason for revoking.", messages.ERROR)
            return
        rows = list(queryset.select_related("user", "team"))
        for row in rows:
            access.revoke(row=row, reason=reason)
        self.message_user(request, f"Revoked {len(rows)} grant(s).", messages.SUCCESS)
