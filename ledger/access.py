"""Who may see and change what: roles scoped to teams (``RoleGrant``).

The roles:

- **admin**: everything. A superuser is an admin.
- **team lead** of a team: drafts, previews and proposes changes to the
  definitions the team owns; maps identities and edits memberships of the
  team's people; reads the team's numbers.
- **finance**: the price book and repricing; reads every team's numbers.
- **viewer**: the dashboard and the reports, of the grant's team, or of every
  team when the grant names none.

A grant on a team covers the teams below it in the org tree and the teams merged
into it (reports count a merged team as the one it was merged into), so a lead of
a department leads its teams. :func:`team_scope` computes that closure.

What a caller may *read* is one value everywhere: ``frozenset`` of team ids, or
``None`` for every team (:func:`visible_team_ids` for a user; an API key's
``teams`` for a key, ``ledger.auth.Principal.teams``). Reports, listings, CSV and
work units filter by it.

What a user may *do* is asked of Django's permission system (``user.has_perm``);
the predicates behind it live here and in the apps that own the objects, as
``rules`` predicates (django-rules), so the admin, the API and the CLI ask the
same question.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import rules
from django.db import connection, transaction

from ledger import audit
from ledger.errors import Forbidden
from ledger.models import RoleGrant, Team

ADMIN = RoleGrant.Role.ADMIN.value
TEAM_LEAD = RoleGrant.Role.TEAM_LEAD.value
FINANCE = RoleGrant.Role.FINANCE.value
VIEWER = RoleGrant.Role.VIEWER.value
ROLES = tuple(RoleGrant.Role.values)

_CACHE = "_awu_grants"
_SCOPES = "_awu_scopes"

# The teams a set of teams covers: each one, the teams below it, the teams merged
# into it, and so on down. UNION (not UNION ALL) ends the walk on a cycle.
_SCOPE_SQL = """
    WITH RECURSIVE scope (id) AS (
        SELECT unnest(%s::bigint[])
        UNION
        SELECT t.id FROM ledger_team t JOIN scope s
            ON t.parent_id = s.id OR t.merged_into_id = s.id
    )
    SELECT id FROM scope
"""


def team_scope(team_ids: Iterable[int]) -> frozenset[int]:
    """``team_ids`` with every team below them and merged into them."""
    ids = sorted(set(team_ids))
    if not ids:
        return frozenset()
    with connection.cursor() as cursor:
        cursor.execute(_SCOPE_SQL, [ids])
        return frozenset(row[0] for row in cursor.fetchall())


def _grants(user: Any) -> list[tuple[str, int | None]]:
    """The user's (role, team id) grants, read once per user object."""
    if user is None or not getattr(user, "is_authenticated", False) or user.pk is None:
        return []
    cached = getattr(user, _CACHE, None)
    if cached is None:
        cached = list(RoleGrant.objects.filter(user_id=user.pk).values_list("role", "team_id"))
        setattr(user, _CACHE, cached)
    return cached


def _scope_for(user: Any, team_ids: Iterable[int]) -> frozenset[int]:
    """``team_scope`` of some of ``user``'s granted teams, computed once per user
    object (an admin change list asks it for every row)."""
    key = frozenset(team_ids)
    scopes: dict[frozenset[int], frozenset[int]] = user.__dict__.setdefault(_SCOPES, {})
    if key not in scopes:
        scopes[key] = team_scope(key)
    return scopes[key]


def forget(user: Any) -> None:
    """Drop the grants memoised on ``user`` (after granting or revoking)."""
    for name in (_CACHE, _SCOPES):
        if hasattr(user, name):
            delattr(user, name)


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_active", False))


def roles_of(user: Any) -> set[str]:
    if not _active(user):
        return set()
    roles = {role for role, _ in _grants(user)}
    if getattr(user, "is_superuser", False):
        roles.add(ADMIN)
    return roles


def is_admin_user(user: Any) -> bool:
    return ADMIN in roles_of(user)


def lead_team_ids(user: Any) -> frozenset[int]:
    """The teams ``user`` leads, with the teams they cover."""
    if not _active(user):
        return frozenset()
    return _scope_for(user, (team for role, team in _grants(user) if role == TEAM_LEAD and team))


def visible_team_ids(user: Any) -> frozenset[int] | None:
    """The teams whose numbers ``user`` may read: ``None`` for every team, an
    empty set for none (a user with no role reads nothing)."""
    if not _active(user):
        return frozenset()
    roles = roles_of(user)
    if roles & {ADMIN, FINANCE}:
        return None
    grants = _grants(user)
    if any(role == VIEWER and team is None for role, team in grants):
        return None
    return _scope_for(
        user, (team for role, team in grants if role in (VIEWER, TEAM_LEAD) and team is not None)
    )


def may_read_team(teams: frozenset[int] | None, team_id: int | None) -> bool:
    """Whether a caller limited to ``teams`` may read ``team_id``'s numbers
    (numbers with no team are read only by callers with every team)."""
    return teams is None or (team_id is not None and team_id in teams)


def require_team(teams: frozenset[int] | None, slug: str | None) -> None:
    """Raise ``Forbidden`` naming ``slug`` when a caller limited to ``teams`` asks for
    a team it may not read, whether or not such a team exists (no existence leak)."""
    if teams is None or slug is None:
        return
    team = Team.objects.filter(slug=slug).only("pk").first()
    if team is None or not may_read_team(teams, team.pk):
        raise Forbidden(f"This caller may not read team {slug!r}: it is limited to other teams.")


def grant(
    *, user: Any, role: str, team: Team | None = None, origin: str = "manual", reason: str = ""
) -> RoleGrant:
    """Give ``user`` a role (idempotent); recorded in the audit trail."""
    with transaction.atomic():
        row, created = RoleGrant.objects.get_or_create(
            user=user, role=role, team=team, defaults={"origin": origin}
        )
        if created:
            audit.record(
                "role.granted",
                obj=row,
                after={"user": user.get_username(), "role": role, "team": _slug(team)},
                reason=reason,
            )
    forget(user)
    return row


def revoke(*, row: RoleGrant, reason: str = "") -> None:
    """Take a role back; recorded in the audit trail."""
    with transaction.atomic():
        audit.record(
            "role.revoked",
            obj=row,
            before={"user": row.user.get_username(), "role": row.role, "team": _slug(row.team)},
            reason=reason,
        )
        row.delete()
    forget(row.user)


def _slug(team: Team | None) -> str | None:
    return team.slug if team is not None else None


# ``rules`` predicates, shared by the apps' permission rules.


@rules.predicate
def is_admin(user: Any) -> bool:
    return is_admin_user(user)


@rules.predicate
def is_finance(user: Any) -> bool:
    return FINANCE in roles_of(user)


@rules.predicate
def is_team_lead(user: Any) -> bool:
    return TEAM_LEAD in roles_of(user)


@rules.predicate
def has_any_role(user: Any) -> bool:
    return bool(roles_of(user))


def leads(user: Any, team_id: int | None) -> bool:
    """Whether ``user`` leads ``team_id`` (or a team covering it)."""
    return team_id is not None and team_id in lead_team_ids(user)
