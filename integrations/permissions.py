"""What each role may do with the integrations' objects (``rules`` permissions;
ledger.permissions has the roles). Loaded by ``IntegrationsConfig.ready``.

Dead letters, ignored deliveries and OTLP series are the admins'. Unmapped actors
are listed for admins and team leads (a lead maps one to a person of their team
through the identity form); creating a person from an actor is the admins'.
"""

from __future__ import annotations

from typing import Any

import rules

from ledger import access

admin_only = access.is_admin

PERMISSIONS: dict[str, Any] = {
    **{
        f"integrations.{a}_{model}": admin_only
        for a in ("view", "add", "change", "delete")
        for model in ("deadletter", "ignoreddeliveries", "metricseries", "unmappedactor")
    },
    "integrations.view_unmappedactor": access.is_admin | access.is_team_lead,
    "integrations": access.is_admin | access.is_team_lead,
}


def register() -> None:
    for name, predicate in PERMISSIONS.items():
        rules.set_perm(name, predicate)
