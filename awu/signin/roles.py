"""From the identity provider's groups to what a user may do: the one seam for roles.

The mapping is a setting, ``AWU_OIDC_GROUPS`` (awu.signin.group_map): each
provider group names the roles it grants: the ledger's roles (``admin``,
``finance``, ``team_lead:SLUG``, ``viewer``, ``viewer:SLUG``: ``RoleGrant`` rows
with origin ``oidc``), Django's ``staff`` and ``superuser`` flags, or Django
groups by name. They are set again at every sign-in from the groups the
provider sends, so removing someone from a group at the provider removes the
role at their next sign-in:

- the user's ``oidc`` grants become exactly what the groups map to, through
  ledger.access.grant / revoke (each change audited); grants made by hand in
  the admin (origin ``manual``) are left alone;
- a team slug that names no team is skipped with a warning in the log (teams
  may be created later, by SCIM or the directory import); the other grants
  apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from django.contrib.auth.models import AbstractUser, Group

from ledger import access, audit
from ledger.models import AuditEvent, RoleGrant, Team

logger = logging.getLogger(__name__)

STAFF = "staff"
SUPERUSER = "superuser"
REASON = "the identity provider's groups at sign-in"


def roles_for(groups: Iterable[str], mapping: Mapping[str, tuple[str, ...]]) -> set[str]:
    return {role for group in groups for role in mapping.get(group, ())}


def _ledger_role(role: str) -> tuple[str, str | None] | None:
    """``"team_lead:payments"`` -> ("team_lead", "payments"); None for other names."""
    name, _, team = role.partition(":")
    if name not in access.ROLES:
        return None
    return name, team.strip() or None


def grants_sync(user: AbstractUser, wanted: set[tuple[str, str | None]]) -> None:
    """Make the user's ``oidc`` grants exactly ``wanted`` (role, team slug)."""
    slugs = {slug for _, slug in wanted if slug}
    teams = {t.slug: t for t in Team.objects.filter(slug__in=slugs)}
    for slug in sorted(slugs - set(teams)):
        logger.warning(
            "OIDC sign-in of %s: AWU_OIDC_GROUPS names team %r, which does not exist; "
            "that role is not granted",
            user.get_username(),
            slug,
        )
    resolved = {
        (role, teams[slug].pk if slug else None)
        for role, slug in wanted
        if slug is None or slug in teams
    }
    existing = RoleGrant.objects.filter(
        user_id=user.pk, origin=RoleGrant.Origin.OIDC
    ).select_related("user", "team")
    actor = audit.Actor(AuditEvent.ActorKind.SYSTEM, f"OIDC sign-in of {user.get_username()}")
    with audit.acting_as(actor):
        for row in existing:
            if (row.role, row.team_id) not in resolved:
                access.revoke(row=row, reason=REASON)
        for role, team_id in sorted(resolved, key=lambda r: (r[0], r[1] or 0)):
            team = next((t for t in teams.values() if t.pk == team_id), None)
            access.grant(
                user=user, role=role, team=team, origin=RoleGrant.Origin.OIDC, reason=REASON
            )


def roles_apply(
    user: AbstractUser, groups: Iterable[str], mapping: Mapping[str, tuple[str, ...]]
) -> set[str]:
    """Give ``user`` exactly the roles its provider groups map to; returns them."""
    roles = roles_for(groups, mapping)
    user.is_staff = STAFF in roles or SUPERUSER in roles
    user.is_superuser = SUPERUSER in roles
    user.save(update_fields=["is_staff", "is_superuser"])
    ledger_roles = {parsed for role in roles if (parsed := _ledger_role(role)) is not None}
    django_groups = sorted(
        role for role in roles - {STAFF, SUPERUSER} if _ledger_role(role) is None
    )
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in django_groups])
    grants_sync(user, ledger_roles)
    return roles
