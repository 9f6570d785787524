"""The admin site: who may enter it, and how each ModelAdmin asks the roles.

Entry is decided by the roles, not by ``is_staff``: a user holding *admin*,
*team lead* or *finance* (ledger.access; a superuser is an admin) may sign in to
``/admin/``; a viewer, or a user with no role, may not (the dashboard and the
reports are theirs). ``is_staff`` is not read: a grant or a revocation takes
effect at the next request, with nothing to keep in step.

Every ModelAdmin of the project derives from :class:`RoleModelAdmin`, which asks
the ``rules`` permissions (ledger.permissions and each app's ``permissions``
module) with the object where there is one, and nothing else: Django's
per-model permission tables and groups grant nothing in the admin.
"""

from __future__ import annotations

from typing import Any

import rules
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from ledger import access, permissions


def may_use_admin(user: Any) -> bool:
    return bool(user is not None and user.is_active and permissions.may_use_admin.test(user))


class RoleAuthenticationForm(AdminAuthenticationForm):
    """The admin's log-in: a role that may use the admin, not ``is_staff``."""

    def confirm_login_allowed(self, user: Any) -> None:
        if not user.is_active or not may_use_admin(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class LedgerAdminSite(admin.AdminSite):
    login_form = RoleAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)


def _perm(opts: Any, action: str) -> str:
    return f"{opts.app_label}.{get_permission_codename(action, opts)}"


def allowed(request: HttpRequest, perm: str, obj: Any = None) -> bool:
    """Whether the request's user holds the ``rules`` permission ``perm``."""
    return bool(rules.has_perm(perm, request.user, obj))


def rows_of_led_teams(request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Rows with a ``team``: admins and finance list every team's, a team lead their
    teams' (for a ModelAdmin's ``scope_queryset``)."""
    user = request.user
    if access.is_admin_user(user) or access.FINANCE in access.roles_of(user):
        return queryset
    return queryset.filter(team_id__in=access.lead_team_ids(user))


class RolePermissionsMixin:
    """Answers a ModelAdmin's ``has_*_permission`` from the ``rules`` permissions.

    ``scope_queryset`` narrows the change list (and the autocomplete) to what the
    user may see; an object outside it is still found by its id, so asking for
    one the user may not see is a 403, never a "does not exist".
    """

    opts: Any
    model: Any

    def _asks(self, request: HttpRequest, action: str, obj: Any = None) -> bool:
        return allowed(request, _perm(self.opts, action), obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._asks(request, "view", obj) or self._asks(request, "change", obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._asks(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._asks(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._asks(request, "delete", obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._asks(request, "view") or self._asks(request, "change")


class RoleModelAdmin(RolePermissionsMixin, admin.ModelAdmin):
    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """The rows ``request.user`` may list (all, by default)."""
        return queryset

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.scope_queryset(request, super().get_queryset(request))

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        queryset = self.model._default_manager.get_queryset()
        model = queryset.model
        field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (model.DoesNotExist, ValidationError, ValueError):
            return None

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        """The object as posted must be one the user may change (or add): a form
        pointed at another team's person is a 403, and nothing is saved."""
        obj = super().save_form(request, form, change)
        may_add = not change and self._asks(request, "add", obj)
        if not (may_add or self.has_change_permission(request, obj)):
            raise PermissionDenied
        return obj
