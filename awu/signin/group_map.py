"""The ``AWU_OIDC_GROUPS`` setting's format. Pure: read by the settings module.

``GROUP=ROLE[,ROLE...]`` entries separated by ``;``. A role is one of:

- ``admin``, ``finance``: the ledger's roles, for every team;
- ``team_lead:SLUG``: team lead of the team with that slug (a team is required);
- ``viewer`` (every team) or ``viewer:SLUG`` (that team);
- ``staff``, ``superuser``: Django's flags, as before roles (``superuser`` is an
  admin);
- any other name: a Django group of that name.

A malformed entry (no ``=``, no role, a team lead without a team, an admin or
finance limited to a team) is a settings error naming it, at startup. Whether a
team slug exists is known only at sign-in (awu.signin.roles).
"""

from __future__ import annotations

# The ledger's roles (ledger.models.RoleGrant.Role), spelled here to stay pure.
SCOPED_ROLES = ("team_lead", "viewer")
GLOBAL_ROLES = ("admin", "finance")


def _check(entry: str, role: str) -> None:
    name, sep, team = role.partition(":")
    if name == "team_lead" and not team.strip():
        raise ValueError(
            f"AWU_OIDC_GROUPS: {entry!r}: team_lead needs a team (team_lead:TEAM-SLUG)"
        )
    if name in GLOBAL_ROLES and sep:
        raise ValueError(f"AWU_OIDC_GROUPS: {entry!r}: {name} holds for every team, name none")
    if sep and name not in SCOPED_ROLES:
        raise ValueError(f"AWU_OIDC_GROUPS: {entry!r}: only team_lead and viewer name a team")


def parse_group_map(text: str) -> dict[str, tuple[str, ...]]:
    """``"awu-admins=admin; awu-pay-leads=team_lead:payments"`` -> {group: roles}.

    Raises ValueError naming a malformed entry.
    """
    mapping: dict[str, tuple[str, ...]] = {}
    for entry in text.split(";"):
        if not entry.strip():
            continue
        group, sep, roles = entry.partition("=")
        names = tuple(r.strip().replace(" ", "") for r in roles.split(",") if r.strip())
        if not sep or not group.strip() or not names:
            raise ValueError(f"AWU_OIDC_GROUPS: {entry.strip()!r} is not GROUP=ROLE[,ROLE...]")
        for role in names:
            _check(entry.strip(), role)
        mapping[group.strip()] = names
    return mapping
