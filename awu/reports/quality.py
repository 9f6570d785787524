"""Quality beside the count: incidents, bugs and review time of completed units.

Each measure is a scalar subquery over one unit ``w`` (its ``ref_keys``, the
pr/commit/deploy keys of its change), read from the ledger's events when the
unit's facts are written, so an event that arrived before its change (a review
of a PR merged later) counts as soon as the change is there. Every event type
read here is queued for the rollups by migration 0006 (:data:`EVENT_TYPES`): a new
one re-rolls the facts of the units its refs reach.

Incidents are read through :func:`incident_attributions_sql` only: the one place
that says which incidents are attributed to a change: ``incident.attributed``
naming it (``explicit``), and the deploy-window attributions scoring keeps on the
unit (``w.attributions``, docs/rules.md).
"""

from __future__ import annotations

# The events that change a unit's quality measures (kept in step with migration 0006).
EVENT_TYPES = (
    "incident.attributed",
    "issue.bug_reported",
    "code.review.requested",
    "code.review.submitted",
)


def _keys(keys: str, *kinds: str) -> str:
    """SQL varchar[]: the keys of ``keys`` (an array expression) of the ``kinds``."""
    like = " OR ".join(f"k LIKE '{kind}:%%'" for kind in kinds)
    return f"ARRAY(SELECT k FROM unnest({keys}) k WHERE {like})::varchar[]"  # noqa: S608 - fixed SQL


def _linked(keys: str) -> str:
    """SQL relation: the events sharing a key with ``keys``, by the ref-key index.

    OFFSET 0 keeps the callers' type filters out of this scan: filtered by type
    first, the planner would walk every event of the type (every incident) for each
    unit; by key, a unit reaches the handful of events of its own change."""
    return f"(SELECT * FROM ledger_workevent WHERE ref_keys && {keys} OFFSET 0)"  # noqa: S608


def _seen(alias: str, as_of: bool) -> str:
    return f"AND {alias}.received_at <= %(as_of)s" if as_of else ""


def _first_key(alias: str, kind: str) -> str:
    """The event's first ``kind`` key, else its id: what counts it once."""
    return (
        f"COALESCE((SELECT k FROM unnest({alias}.ref_keys) k WHERE k LIKE '{kind}:%%'"  # noqa: S608 - fixed SQL
        f" ORDER BY k LIMIT 1), 'event:' || {alias}.id)"
    )


def incident_attributions_sql(keys: str, *, as_of: bool = False, unit: str = "w") -> str:
    """SELECT of ``incident`` (a key that identifies it) and ``method``: the incidents
    attributed to the change whose ref keys are ``keys`` (an SQL array expression).

    ``explicit``: an ``incident.attributed`` event names the change's PR or commit,
    or names only a deploy that shipped it (docs/events.md). ``deploy-window``: the
    incident opened on the service soon after the deploy that shipped the change,
    as scoring recorded it on the unit ``unit`` (its ``attributions``).
    """
    window_seen = (
        "AND (SELECT e.received_at FROM ledger_workevent e"
        " WHERE e.id = (a->>'event')::bigint) <= %(as_of)s"
        if as_of
        else ""
    )
    change = _keys(keys, "pr", "commit")
    deploys = _keys(keys, "deploy")
    names_change = (
        "EXISTS (SELECT 1 FROM unnest(i.ref_keys) k WHERE k LIKE 'pr:%%' OR k LIKE 'commit:%%')"
    )
    return f"""
        SELECT {_first_key("i", "incident")} AS incident, 'explicit' AS method
        FROM {_linked(keys)} i
        WHERE i.type = 'incident.attributed' {_seen("i", as_of)}
          AND (i.ref_keys && {change} OR (NOT {names_change} AND i.ref_keys && {deploys}))
        UNION ALL
        SELECT a->>'incident' AS incident, 'deploy-window' AS method
        FROM jsonb_array_elements({unit}.attributions) a
        WHERE a->>'method' = 'deploy-window' {window_seen}
    """  # noqa: S608 - fixed SQL


def incidents_sql(keys: str, *, as_of: bool = False) -> str:
    """SQL integer: the distinct incidents attributed to the change."""
    return f"(SELECT count(DISTINCT a.incident) FROM ({incident_attributions_sql(keys, as_of=as_of)}) a)"  # noqa: S608


def bugs_sql(keys: str, *, as_of: bool = False) -> str:
    """SQL integer: the distinct issues labelled as bugs that name the change's PR or
    a commit of it."""
    change = _keys(keys, "pr", "commit")
    return f"""(SELECT count(DISTINCT {_first_key("b", "issue")})
        FROM {_linked(change)} b
        WHERE b.type = 'issue.bug_reported' {_seen("b", as_of)})"""  # noqa: S608


def review_hours_sql(keys: str, *, as_of: bool = False) -> str:
    """SQL numeric: hours from the first review request on the change's PRs to each
    approving review of them, summed over the approvals (an approval before any
    request, or with no request at all, adds nothing)."""
    prs = _keys(keys, "pr")
    return f"""(SELECT COALESCE(sum(extract(epoch FROM a.occurred_at - r.first) / 3600), 0)
        FROM {_linked(prs)} a,
        LATERAL (SELECT min(q.occurred_at) AS first FROM {_linked(prs)} q
                 WHERE q.type = 'code.review.requested' {_seen("q", as_of)}) r
        WHERE a.type = 'code.review.submitted'
          AND a.attributes->>'state' = 'approved' {_seen("a", as_of)}
          AND a.occurred_at >= r.first)"""  # noqa: S608
