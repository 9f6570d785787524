"""Definitions in the Django admin: versions, publishing, drafts and approvals.

A frozen version (published, proposed for approval, or one that has scored
work) is shown read-only; "edit" means "new draft from this version".
Publishing re-checks every expression and refuses a version with problems.

Who may do what is asked of :mod:`awu.definitions.permissions` with the object:
an admin changes anything; a team lead drafts, edits, previews and proposes only
for the definitions their team owns and sees the others read-only (a forged POST
gets a 403). Where the domain requires approval (:mod:`awu.definitions.approvals`)
the draft page offers "Propose" instead of "Publish", and the change request's
page shows the stored preview with "Approve" and "Reject".

:class:`DefinitionVersionAdmin` is registered by :mod:`awu.scoring.admin`, which
adds its preview page and computes the proposal's preview: a preview scores past
events, and scoring depends on definitions, never the other way round.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from awu.definitions import approvals, services
from awu.definitions.forms import DefinitionVersionForm
from awu.definitions.models import ApprovalPolicy, ChangeRequest, Definition, DefinitionVersion
from awu.definitions.permissions import allowed
from ledger import access, clock
from ledger.admin_site import RolePermissionsMixin


class RulesModuleMixin:
    """The app shows on the admin index for whoever the rules let read it."""

    module_perm = ""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return allowed(request.user, self.module_perm)


def _error(admin_: admin.ModelAdmin, request: HttpRequest, exc: services.DefinitionError) -> None:
    details = "; ".join(m for ms in exc.problems.values() for m in ms)
    admin_.message_user(request, f"{exc}{': ' + details if details else ''}", level=messages.ERROR)


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
class DefinitionAdmin(RolePermissionsMixin, admin.ModelAdmin):
    # Its domain and owning team decide who approves: an admin's to change
    # (awu.definitions.permissions).
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


class DefinitionVersionAdmin(RulesModuleMixin, admin.ModelAdmin):
    module_perm = "view_definitionversion"
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

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "definition" and not access.is_admin_user(request.user):
            # A team lead drafts only for the definitions their team owns.
            kwargs["queryset"] = Definition.objects.filter(
                owner_team_id__in=access.lead_team_ids(request.user)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Object-level answers from awu.definitions.permissions.

    def may_edit(self, request: HttpRequest, obj: Any) -> bool:
        return allowed(request.user, "change_definitionversion", obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allowed(request.user, "view_definitionversion", obj) or self.may_edit(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return allowed(request.user, "add_definitionversion")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Frozen versions are shown read-only: Django renders the view-only page.
        if obj is not None and services.version_is_frozen(obj):
            return False
        return self.may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and services.version_is_frozen(obj):
            return False
        return allowed(request.user, "delete_definitionversion", obj)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and object_id is None and request.POST.get("definition"):
            # A draft for a definition the user may not edit: 403, before the form runs.
            definition = Definition.objects.filter(pk=_int(request.POST["definition"])).first()
            if definition is not None and not allowed(
                request.user, "add_definitionversion", definition
            ):
                raise PermissionDenied
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(
        self, request: HttpRequest, obj: DefinitionVersion, form: Any, change: bool
    ) -> None:
        if not self.may_edit(request, obj.definition):
            raise PermissionDenied
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
            editable = self.may_edit(request, version)
            context.update(
                frozen=services.version_is_frozen(version),
                is_draft=version.status == DefinitionVersion.Status.DRAFT,
                problems=services.version_problems(version),
                may_edit=editable,
                approval_required=approvals.approval_required(version.definition.domain),
                open_request=ChangeRequest.objects.filter(
                    version=version, state=ChangeRequest.State.PROPOSED
                ).first(),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    # --- publish / propose / withdraw / rescore request / new draft ---------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/publish/", wrap(self.publish_view), name="definitions_version_publish"),
            path("<int:pk>/propose/", wrap(self.propose_view), name="definitions_version_propose"),
            path(
                "<int:pk>/request-rescore/",
                wrap(self.rescore_view),
                name="definitions_version_rescore",
            ),
            path("<int:pk>/new-draft/", wrap(self.draft_view), name="definitions_version_draft"),
            *super().get_urls(),
        ]

    def preview_diff(self, version: DefinitionVersion, days: int) -> dict[str, Any]:
        """The proposal's preview (units gained and lost by team); the scoring
        app's subclass computes it."""
        raise NotImplementedError

    def _version_for(self, request: HttpRequest, pk: int) -> DefinitionVersion:
        version = get_object_or_404(DefinitionVersion.objects.select_related("definition"), pk=pk)
        if not self.may_edit(request, version):
            raise PermissionDenied
        return version

    def _back(self, pk: int) -> HttpResponse:
        return HttpResponseRedirect(
            reverse("admin:definitions_definitionversion_change", args=[pk])
        )

    def _publish(self, request: HttpRequest, version: DefinitionVersion) -> bool:
        try:
            services.definition_publish(version=version, now=clock.now())
        except services.DefinitionError as exc:
            _error(self, request, exc)
            return False
        self.message_user(request, f"Published {version}: it scores new triggers from now on.")
        return True

    def _propose(
        self,
        request: HttpRequest,
        version: DefinitionVersion,
        kind: str = ChangeRequest.Kind.PUBLISH,
    ) -> ChangeRequest | None:
        policy = approvals.policy_for(version.definition.domain)
        try:
            change = approvals.change_propose(
                version=version,
                by=request.user,
                kind=kind,
                preview=self.preview_diff(version, policy.preview_days),
                preview_days=policy.preview_days,
                now=clock.now(),
                note=(request.POST.get("note") or "")[:500],
            )
        except services.DefinitionError as exc:
            _error(self, request, exc)
            return None
        what = "a rescore from" if kind == ChangeRequest.Kind.RESCORE else "publishing"
        self.message_user(
            request,
            f"Proposed {what} {version} (request #{change.pk}): someone outside the owning "
            "team approves or rejects it.",
        )
        return change

    @method_decorator(require_POST)
    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version_for(request, pk)
        self._publish(request, version)
        return self._back(pk)

    @method_decorator(require_POST)
    def propose_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version_for(request, pk)
        change = self._propose(request, version)
        if change is None:
            return self._back(pk)
        return HttpResponseRedirect(
            reverse("admin:definitions_changerequest_change", args=[change.pk])
        )

    @method_decorator(require_POST)
    def rescore_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version_for(request, pk)
        if not approvals.approval_required(version.definition.domain):
            self.message_user(
                request,
                f"The {version.definition.domain} domain needs no approval: run "
                f"`awu rescore {version.definition.key}`.",
                level=messages.WARNING,
            )
            return self._back(pk)
        change = self._propose(request, version, ChangeRequest.Kind.RESCORE)
        if change is None:
            return self._back(pk)
        return HttpResponseRedirect(
            reverse("admin:definitions_changerequest_change", args=[change.pk])
        )

    @method_decorator(require_POST)
    def draft_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version_for(request, pk)
        draft = services.version_draft_from(version=version)
        self.message_user(request, f"Created draft {draft} from v{version.version}.")
        return self._back(draft.pk)

    @admin.action(
        description="Publish (or propose, where approval is required) the selected drafts",
        permissions=["change"],
    )
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[DefinitionVersion]) -> None:
        for version in queryset.filter(status=DefinitionVersion.Status.DRAFT):
            if not self.may_edit(request, version):
                self.message_user(request, f"{version}: not yours to change.", level=messages.ERROR)
            elif approvals.approval_required(version.definition.domain):
                self._propose(request, version)
            else:
                self._publish(request, version)

    @admin.action(description="New draft from each selected version", permissions=["change"])
    def draft_from_selected(
        self, request: HttpRequest, queryset: QuerySet[DefinitionVersion]
    ) -> None:
        for version in queryset:
            if not self.may_edit(request, version):
                self.message_user(request, f"{version}: not yours to change.", level=messages.ERROR)
                continue
            draft = services.version_draft_from(version=version)
            self.message_user(request, f"Created draft {draft} from v{version.version}.")


def _int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


# --- approvals ------------------------------------------------------------------


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    reason = forms.CharField(required=False, max_length=2000)


@admin.register(ChangeRequest)
class ChangeRequestAdmin(RulesModuleMixin, admin.ModelAdmin):
    """Proposals awaiting four eyes: the stored preview, then approve or reject."""

    module_perm = "view_changerequest"
    change_form_template = "admin/definitions/changerequest/change_form.html"
    list_display = ["__str__", "kind", "definition", "state", "proposed_by", "proposed_at"]
    list_filter = ["state", "kind", "definition__domain"]
    list_select_related = ["definition", "version", "proposed_by"]
    fields = (
        "kind", "definition", "version", "covers_from", "state", "proposed_by", "proposed_at",
        "note", "preview_days", "decided_by", "decided_at", "reason", "executed_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allowed(request.user, "view_changerequest", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # proposed from a draft's page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decided with the buttons, through the service

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/decide/", wrap(self.decide_view), name="definitions_changerequest_decide"
            ),
            path(
                "<int:pk>/withdraw/",
                wrap(self.withdraw_view),
                name="definitions_changerequest_withdraw",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        change = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if change is not None:
            is_open = change.state == ChangeRequest.State.PROPOSED
            problem = approvals.approver_problem(request.user, change, now=clock.now())
            context.update(
                preview=change.preview,
                is_open=is_open,
                may_decide=is_open
                and allowed(request.user, "decide_changerequest", change)
                and problem is None,
                decide_problem=problem,
                may_withdraw=is_open
                and (
                    change.proposed_by_id == request.user.pk
                    or approvals.may_propose(request.user, change.definition)
                ),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _back(self, pk: int) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:definitions_changerequest_change", args=[pk]))

    @method_decorator(require_POST)
    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(ChangeRequest.objects.select_related("definition"), pk=pk)
        if not allowed(request.user, "decide_changerequest", change):
            raise PermissionDenied
        form = DecisionForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Choose approve or reject.", level=messages.ERROR)
            return self._back(pk)
        reason = form.cleaned_data["reason"]
        try:
            if form.cleaned_data["decision"] == "approve":
                decided = approvals.change_approve(
                    change=change, by=request.user, now=clock.now(), reason=reason
                )
                done = (
                    f"published {decided.version}"
                    if decided.kind == ChangeRequest.Kind.PUBLISH
                    else f"run it with `awu rescore --request {decided.pk}`"
                )
                self.message_user(request, f"Approved request #{pk}: {done}.")
            else:
                approvals.change_reject(
                    change=change, by=request.user, now=clock.now(), reason=reason
                )
                self.message_user(request, f"Rejected request #{pk}: the draft is editable again.")
        except approvals.NotAllowed as exc:
            _error(self, request, exc)
            return self._back(pk)
        except services.DefinitionError as exc:
            _error(self, request, exc)
        return self._back(pk)

    @method_decorator(require_POST)
    def withdraw_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(ChangeRequest.objects.select_related("definition"), pk=pk)
        try:
            approvals.change_withdraw(
                change=change,
                by=request.user,
                now=clock.now(),
                reason=(request.POST.get("reason") or "")[:2000],
            )
        except approvals.NotAllowed:
            raise PermissionDenied from None
        except services.DefinitionError as exc:
            _error(self, request, exc)
            return self._back(pk)
        self.message_user(request, f"Withdrew request #{pk}: the draft is editable again.")
        return self._back(pk)


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """Per domain: whether changes need four eyes. A domain without a row requires it."""

    list_display = ["domain", "required", "preview_days", "updated_at"]
    fields = ["domain", "required", "preview_days"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["domain"] if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: ApprovalPolicy, form: Any, change: bool
    ) -> None:
        saved = approvals.policy_set(
            domain=obj.domain, required=obj.required, preview_days=obj.preview_days
        )
        obj.pk = saved.pk
