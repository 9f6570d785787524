"""Who may do what with definitions, as ``rules`` permissions (django-rules).

- **admin**: everything (definitions, versions, approval policies).
- **team lead**: reads every definition; drafts, edits drafts, previews and
  proposes (and withdraws) only for definitions whose ``owner_team`` they lead
  (``ledger.access.leads``: their team, the teams below it and merged into
  it); decides other teams' proposals when the four-eyes rule allows
  (``awu.definitions.approvals.approver_problem``, checked by the service).
- **finance**: reads.
- **viewer**, or no role: nothing here.

The admin asks these with the object (``rules.has_perm(name, user, obj)``), so a
team lead sees another team's versions read-only and a forged POST gets a 403.
Model-level questions (``obj`` None) answer whether the user may do it to some
object. Loaded by the app's ``ready()``.
"""

from __future__ import annotations

from typing import Any

import rules

from ledger.access import is_admin, is_finance, is_team_lead, leads


def _definition_of(obj: Any) -> Any:
    return getattr(obj, "definition", obj)


@rules.predicate
def leads_owning_team(user: Any, obj: Any = None) -> bool:
    """``user`` leads the team owning ``obj`` (a definition, version or request);
    true for the model-level question (no object)."""
    if obj is None:
        return True
    return leads(user, getattr(_definition_of(obj), "owner_team_id", None))


may_read = is_admin | is_team_lead | is_finance
may_edit = is_admin | (is_team_lead & leads_owning_team)

PERMISSIONS = {
    "definitions.view_definition": may_read,
    "definitions.add_definition": is_admin,
    "definitions.change_definition": is_admin,
    "definitions.delete_definition": is_admin,
    "definitions.view_definitionversion": may_read,
    "definitions.add_definitionversion": may_edit,
    "definitions.change_definitionversion": may_edit,
    "definitions.delete_definitionversion": may_edit,
    "definitions.propose_definitionversion": may_edit,
    "definitions.view_changerequest": may_read,
    "definitions.decide_changerequest": is_admin | is_team_lead,
    "definitions.view_approvalpolicy": may_read,
    "definitions.add_approvalpolicy": is_admin,
    "definitions.change_approvalpolicy": is_admin,
    "definitions.delete_approvalpolicy": rules.always_deny,
}


def load() -> None:
    for name, predicate in PERMISSIONS.items():
        rules.set_perm(name, predicate)


def allowed(user: Any, name: str, obj: Any = None) -> bool:
    """The rules' answer alone (a legacy Django model permission does not widen it)."""
    return bool(rules.has_perm(f"definitions.{name}", user, obj))
