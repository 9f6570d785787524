"""From the identity provider's groups to what a user may do: the one seam for roles.

For now a role is what Django already has: ``staff`` (may use the admin),
``superuser`` (may do everything) and Django groups (their permissions). The
mapping is a setting, ``AWU_OIDC_GROUPS``: each provider group names the roles
it grants. A user's roles are set again at every sign-in from the groups the
provider sends, so removing someone from a group at the provider removes the
role at their next sign-in. Team-scoped roles (team lead of a team, finance,
viewer of some teams) replace the body of :func:`roles_apply`, not its callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.contrib.auth.models import AbstractUser, Group

STAFF = "staff"
SUPERUSER = "superuser"


def roles_for(groups: Iterable[str], mapping: Mapping[str, tuple[str, ...]]) -> set[str]:
    return {role for group in groups for role in mapping.get(group, ())}


def roles_apply(
    user: AbstractUser, groups: Iterable[str], mapping: Mapping[str, tuple[str, ...]]
) -> set[str]:
    """Give ``user`` exactly the roles its provider groups map to; returns them."""
    roles = roles_for(groups, mapping)
    user.is_staff = STAFF in roles or SUPERUSER in roles
    user.is_superuser = SUPERUSER in roles
    user.save(update_fields=["is_staff", "is_superuser"])
    wanted = sorted(roles - {STAFF, SUPERUSER})
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in wanted])
    return roles
