"""What each role may do with work units and AWU entries (``rules`` permissions;
ledger.permissions has the roles). Loaded by ``ScoringConfig.ready``.

Both are append-only records, read in the admin: by admins and finance (every
team) and by team leads (their teams' rows only, ``awu.scoring.admin``). Nobody
adds, changes or deletes them there.
"""

from __future__ import annotations

from typing import Any

import rules

from ledger import access

readers = access.is_admin | access.is_finance | access.is_team_lead

PERMISSIONS: dict[str, Any] = {
    **{f"scoring.view_{model}": readers for model in ("workunit", "awuentry")},
    **{
        f"scoring.{a}_{model}": access.is_admin
        for a in ("add", "change", "delete")
        for model in ("workunit", "awuentry")
    },
}


def register() -> None:
    for name, predicate in PERMISSIONS.items():
        rules.set_perm(name, predicate)
