"""Incidents by attribution method: how the incidents of a period were tied to changes.

Read from the live units' ``attributions`` (the engine's, see
awu.rules.incidents) and the ledger's ``incident.opened`` events. An incident is
known by its key: ``incident:<first incident ref>``, else ``event:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from awu.reports.facts import TRIGGER_JOIN, unit_attribution_sql
from awu.reports.measures import rate
from ledger.replica import read_connection

METHODS = ("explicit", "deploy-window")

# The key of an incident.opened event ``e``: the same one the engine gives it.
INCIDENT_KEY_SQL = (
    "CASE WHEN jsonb_typeof(e.refs->'incident') = 'array'"
    " AND jsonb_array_length(e.refs->'incident') > 0"
    " THEN 'incident:' || (e.refs->'incident'->>0) ELSE 'event:' || e.id END"
)

# incident.opened events no live unit has an attribution of (``e`` is the event).
UNATTRIBUTED_SQL = f"""
e.type = 'incident.opened' AND NOT EXISTS (
    SELECT 1 FROM scoring_workunit u
    WHERE array_length(u.incident_keys, 1) > 0
      AND u.incident_keys @> ARRAY[({INCIDENT_KEY_SQL})::varchar]
      AND u.superseded_at IS NULL
)
"""  # noqa: S608 - constant SQL


def unattributed_incidents(*, start: datetime | None = None, stop: datetime | None = None) -> int:
    """How many ``incident.opened`` events in [start, stop) are attributed to no change."""
    with read_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM ledger_workevent e WHERE {UNATTRIBUTED_SQL}"  # noqa: S608
            " AND (%(start)s::timestamptz IS NULL OR e.occurred_at >= %(start)s)"
            " AND (%(stop)s::timestamptz IS NULL OR e.occurred_at < %(stop)s)",
            {"start": start, "stop": stop},
        )
        return int(cursor.fetchone()[0])


def incidents_by_method(
    *, start: datetime | None, stop: datetime | None, teams: frozenset[int] | None = None
) -> list[dict[str, Any]]:
    """One row per method (``explicit``, ``deploy-window``, then ``unattributed``).

    ``incidents`` counts distinct incidents opened (or attributed) in [start, stop);
    an incident attributed explicitly to one change and by deploy window to
    another counts in both rows. ``attributions`` counts (incident, unit) pairs,
    ``shared_attributions`` those from a deploy that held several changes,
    ``voiding_attributions`` those the unit's rule lets void it. ``share`` is
    ``incidents`` over every ``incident.opened`` of the period (the denominator).

    For a caller limited to ``teams`` (ledger.access; None: every team): only the
    attributions to units of those teams (as reports resolve a unit's team), and
    no ``unattributed`` row: an incident tied to no change belongs to no team. The
    denominator is then ``incidents_attributed``, the distinct incidents attributed
    to those units by either method.
    """
    params: dict[str, Any] = {"start": start, "stop": stop}
    join, limit = "", ""
    if teams is not None:
        who = unit_attribution_sql()
        join = f"{TRIGGER_JOIN} {who.join}"
        limit = f"AND {who.team_id} = ANY(%(visible_teams)s)"
        params["visible_teams"] = sorted(teams)
    attributions = f"""
        FROM scoring_workunit w {join}
        CROSS JOIN LATERAL jsonb_array_elements(w.attributions) a
        WHERE w.superseded_at IS NULL AND array_length(w.incident_keys, 1) > 0
          AND (%(start)s::timestamptz IS NULL OR (a->>'at')::timestamptz >= %(start)s)
          AND (%(stop)s::timestamptz IS NULL OR (a->>'at')::timestamptz < %(stop)s)
          {limit}
    """
    with read_connection().cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a->>'method', count(DISTINCT a->>'incident'), count(*),
                   count(*) FILTER (WHERE (a->>'shared')::boolean),
                   count(*) FILTER (WHERE (a->>'voids')::boolean)
            {attributions}
            GROUP BY 1
            """,
            params,
        )
        counts = {row[0]: row[1:] for row in cursor.fetchall()}
        if teams is not None:
            cursor.execute(f"SELECT count(DISTINCT a->>'incident') {attributions}", params)
            attributed = int(cursor.fetchone()[0])
            limited = []
            for method in METHODS:
                incidents, attributions, shared, voiding = counts.get(method, (0, 0, 0, 0))
                limited.append(
                    _row(
                        method,
                        incidents,
                        attributions,
                        shared,
                        voiding,
                        attributed,
                        denominator="incidents_attributed",
                    )
                )
            return limited
        cursor.execute(
            "SELECT count(*) FROM ledger_workevent WHERE type = 'incident.opened'"
            " AND (%(start)s::timestamptz IS NULL OR occurred_at >= %(start)s)"
            " AND (%(stop)s::timestamptz IS NULL OR occurred_at < %(stop)s)",
            {"start": start, "stop": stop},
        )
        opened = int(cursor.fetchone()[0])
    rows = []
    for method in METHODS:
        incidents, attributions, shared, voiding = counts.get(method, (0, 0, 0, 0))
        rows.append(_row(method, incidents, attributions, shared, voiding, opened))
    rows.append(
        _row("unattributed", unattributed_incidents(start=start, stop=stop), 0, 0, 0, opened)
    )
    return rows


def _row(
    method: str,
    incidents: int,
    attributions: int,
    shared: int,
    voiding: int,
    opened: int,
    *,
    denominator: str = "incidents_opened",
) -> dict[str, Any]:
    return {
        "method": method,
        "incidents": incidents,
        "attributions": attributions,
        "shared_attributions": shared,
        "voiding_attributions": voiding,
        "share": rate(Decimal(incidents), Decimal(opened)),
        "denominators": {denominator: opened},
    }
