"""What each role may do with budgets, channels and alerts in the admin: ``rules``
permissions, loaded by the app's ``ready()`` (like ledger.permissions).

- **admin**: everything.
- **finance**: budgets (a team's monthly spend budget and its target); reads alerts.
- **team lead**: reads the budgets and alerts of the teams they lead.
- Channels (where alerts go, their signing secrets), digest recipients, and the
  delivery and digest records: admins only.
"""

from __future__ import annotations

from typing import Any

import rules

from ledger import access

is_admin = access.is_admin
is_finance = access.is_finance


@rules.predicate
def leads_its_team(user: Any, obj: Any = None) -> bool:
    """A team lead; with a budget or an alert, of its team."""
    if not access.is_team_lead(user):
        return False
    return obj is None or access.leads(user, getattr(obj, "team_id", None))


_ACTIONS = ("view", "add", "change", "delete")

PERMISSIONS: dict[str, Any] = {
    "alerts.view_budget": is_admin | is_finance | leads_its_team,
    **{f"alerts.{a}_budget": is_admin | is_finance for a in ("add", "change", "delete")},
    "alerts.view_alert": is_admin | is_finance | leads_its_team,
    **{
        f"alerts.{a}_{model}": is_admin
        for a in _ACTIONS
        for model in ("channel", "digestrecipient", "alerttransition", "delivery", "digestrun")
    },
    "alerts": is_admin | is_finance | access.is_team_lead,
}


def register() -> None:
    for name, predicate in PERMISSIONS.items():
        rules.set_perm(name, predicate)
