"""The ``AWU_OIDC_GROUPS`` setting's format. Pure: read by the settings module."""

from __future__ import annotations


def parse_group_map(text: str) -> dict[str, tuple[str, ...]]:
    """``"awu-admins=superuser; awu-finance=staff,finance"`` -> {group: roles}.

    Raises ValueError naming a malformed entry.
    """
    mapping: dict[str, tuple[str, ...]] = {}
    for entry in text.split(";"):
        if not entry.strip():
            continue
        group, sep, roles = entry.partition("=")
        names = tuple(r.strip() for r in roles.split(",") if r.strip())
        if not sep or not group.strip() or not names:
            raise ValueError(f"AWU_OIDC_GROUPS: {entry.strip()!r} is not GROUP=ROLE[,ROLE...]")
        mapping[group.strip()] = names
    return mapping
