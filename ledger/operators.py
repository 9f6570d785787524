"""Who may run an operator command: the user named with ``--as``, and their role.

Each command that changes what the numbers mean names the roles that may run it
(``OperatorCommand.operator_roles``; the ``awu`` commands that call services
directly ask :func:`operator_require` themselves). An admin always may.

- ``--as NAME`` naming an existing user: that user must hold one of the roles
  (ledger.access, the same grants as the admin), else the command stops before
  changing anything, naming the role it needs.
- ``--as NAME`` naming no user, or no ``--as``: the name is only what the audit
  trail records (as before roles), unless the setting ``AWU_CLI_REQUIRE_USER``
  is on: then ``--as`` is required and must name an active user holding the role.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from ledger import access, audit

_NAMES = {
    access.ADMIN: "admin",
    access.FINANCE: "finance",
    access.TEAM_LEAD: "team lead",
    access.VIEWER: "viewer",
}


class OperatorRefused(CommandError):
    """The operator named with ``--as`` may not run this command."""


def _needed(roles: tuple[str, ...]) -> str:
    names = [_NAMES[r] for r in (access.ADMIN, *roles) if r in _NAMES]
    unique = list(dict.fromkeys(names))
    return " or ".join(unique)


def operator_require(command: str, *roles: str) -> None:
    """Raise OperatorRefused unless the operator of this command may run it."""
    name = audit.named_operator()
    required = bool(getattr(settings, "AWU_CLI_REQUIRE_USER", False))
    needed = _needed(roles)
    if not name:
        if required:
            raise OperatorRefused(
                f"{command}: name who runs it with --as USER (a user with the {needed} "
                "role); AWU_CLI_REQUIRE_USER is on"
            )
        return
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        if required:
            raise OperatorRefused(
                f"{command}: --as {name}: there is no such user; AWU_CLI_REQUIRE_USER is on"
            )
        return
    held = access.roles_of(user)
    if not held & {access.ADMIN, *roles}:
        has = ", ".join(sorted(_NAMES[r] for r in held)) or "no role"
        inactive = "" if user.is_active else " (the user is deactivated)"
        raise OperatorRefused(
            f"{command} needs the {needed} role; {name} has {has}{inactive}. Nothing was changed."
        )
