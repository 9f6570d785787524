"""The facts reports are made of, as SQL over the raw tables.

One row per counted token-usage record, per reportable work unit and per AWU
entry, with the person and team resolved. The rollup job materialises these
facts by day; the naive reports aggregate them directly. Both read the same
definitions here, so "what a fact is" has one home.

Person and team come from ``ledger.identities.resolution_sql`` (the actor's
Identity gives the person; the team the record names, else the person's
membership at the record's time), the bulk form of ``team_at``. A unit and its
entries are attributed the same way, from the unit's trigger event, when read:
a mapping or membership changed later moves past units too (the rollups
recompute what it touches, ``rollups.queues``).

``as_of`` reproduces the facts exactly as they stood at a past instant: usage
received by then (with the adjustments created by then), units created and not
superseded by then in the state of their latest transition by then, entries
created by then, and identities and memberships as recorded by then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from awu.reports import quality
from ledger.identities import ResolutionSql, resolution_sql
from ledger.spend import spend_counted_condition, usage_reach_keys_sql

# Best-first order of the states a usage record can be tied to.
TIE_STATES = ("completed", "voided", "pending", "expired")


# A unit's state, units, completion and refs as they stood at ``%(as_of)s``: its
# latest transition recorded by then (scoring_unittransition, appended by a trigger
# on every change). A unit created by then always has one.
UNIT_STATE_AT = """SELECT t.state, t.units, t.completed_at, t.ref_keys
    FROM scoring_unittransition t
    WHERE t.unit_id = w.id AND t.created_at <= %(as_of)s
    ORDER BY t.created_at DESC, t.id DESC LIMIT 1"""


def _unit_live_sql(alias: str, as_of: bool) -> str:
    if not as_of:
        return f"{alias}.superseded_at IS NULL"
    return (
        f"{alias}.created_at <= %(as_of)s"
        f" AND ({alias}.superseded_at IS NULL OR {alias}.superseded_at > %(as_of)s)"
    )


def usage_unpriced_sql(alias: str, *, as_of: bool = False) -> str:
    """SQL boolean: the usage row ``alias`` has no cost. Unpriced until a reprice
    appends an adjustment carrying a price."""
    priced_seen = "AND pa.created_at <= %(as_of)s" if as_of else ""
    return f"""({alias}.cost_source = 'unpriced' AND NOT EXISTS (
            SELECT 1 FROM ledger_costadjustment pa
            WHERE pa.usage_id = {alias}.id AND pa.price_id IS NOT NULL {priced_seen}))"""  # noqa: S608 - fixed SQL


def usage_facts_sql(*, where: str = "TRUE", as_of: bool = False) -> str:
    """SELECT of counted usage facts. ``where`` filters ``u`` (ledger_tokenusage).

    Columns: id, occurred_at, day, person_id, team_id, provider, model,
    source_id, cost, unpriced, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens, tied.
    """
    adj_seen = "AND a.created_at <= %(as_of)s" if as_of else ""
    usage_seen = "AND u.received_at <= %(as_of)s" if as_of else ""
    live = _unit_live_sql("w", as_of)
    reach = usage_reach_keys_sql("u", as_of=as_of)
    state, then, reached_then = "w.state", "", ""
    if as_of:
        # The current refs narrow by index (a unit's refs only grow); its refs
        # then decide.
        state, then = "s.state", f"JOIN LATERAL ({UNIT_STATE_AT}) s ON true"
        reached_then = f"AND s.ref_keys && {reach}"
    who = resolution_sql(
        actor="u.actor",
        at="u.occurred_at",
        named_team="u.team",
        known_at="%(as_of)s" if as_of else None,
    )
    return f"""
    SELECT u.id, u.occurred_at,
        (u.occurred_at AT TIME ZONE 'UTC')::date AS day,
        {who.person_id} AS person_id,
        {who.team_id} AS team_id,
        u.provider, u.model, u.source_id,
        COALESCE(u.cost_usd, 0) + adj.delta AS cost,
        {usage_unpriced_sql("u", as_of=as_of)} AS unpriced,
        u.input_tokens, u.output_tokens,
        u.cache_creation_input_tokens, u.cache_read_input_tokens,
        COALESCE(tie.state, 'none') AS tied
    FROM ledger_tokenusage u
    {who.join}
    -- Joined laterally, not selected as subqueries: a caller's aggregate that
    -- reads a column several times (one sum per tie state) must not run its
    -- subquery each time once this SELECT is flattened into it.
    CROSS JOIN LATERAL (
        SELECT COALESCE(sum(a.delta_usd), 0) AS delta FROM ledger_costadjustment a
        WHERE a.usage_id = u.id {adj_seen}
    ) adj
    LEFT JOIN LATERAL (
        SELECT (ARRAY['completed', 'voided', 'pending', 'expired'])[min(
            CASE {state} WHEN 'completed' THEN 1 WHEN 'voided' THEN 2
                         WHEN 'pending' THEN 3 ELSE 4 END)] AS state
        FROM scoring_workunit w {then}
        WHERE cardinality(u.ref_keys) > 0 AND {live} AND w.ref_keys && {reach} {reached_then}
    ) tie ON true
    WHERE {spend_counted_condition("u")} {usage_seen} AND ({where})
    """  # noqa: S608 - fixed SQL; values travel as parameters


def unit_attribution_sql(*, as_of: bool = False) -> ResolutionSql:
    """Person and team of the unit ``w`` as reports count them: its trigger event's
    actor and the team it names (joined as ``trig``, so the FROM clause needs
    :data:`TRIGGER_JOIN` before ``join``), resolved at the trigger time by the
    directory in force now, or as known at ``%(as_of)s``. The unit's stored
    ``person_id``/``team_id`` (resolved when it was scored) are evidence only."""
    return resolution_sql(
        actor="trig.actor",
        at="w.triggered_at",
        named_team="trig.team",
        alias="unit_ident",
        known_at="%(as_of)s" if as_of else None,
    )


# LEFT: a unit always counts; one whose trigger is not in the ledger (a bulk load)
# has no person and no team.
TRIGGER_JOIN = "LEFT JOIN ledger_workevent trig ON trig.id = w.trigger_event_id"


def unit_facts_sql(*, where: str = "TRUE", as_of: bool = False) -> str:
    """SELECT of reportable work units. ``where`` filters ``w`` (scoring_workunit).

    Columns: unit_id, triggered_at, placed_at (completion, else trigger),
    trig_day, comp_day, person_id, team_id, definition_id, domain, state,
    units, ai_assisted, maturing (pending with every requirement met: inside
    its survival window), settle_day (pending only: the UTC day by which it
    settles, see :func:`settle_day_sql`), and for a completed unit its quality
    measures (``awu.reports.quality``; 0 for the others): incidents, bugs,
    review_hours.
    """
    who = unit_attribution_sql(as_of=as_of)
    state, units, completed_at, keys = "w.state", "w.units", "w.completed_at", "w.ref_keys"
    then = ""
    if as_of:
        state, units, completed_at, keys = "s.state", "s.units", "s.completed_at", "s.ref_keys"
        then = f"JOIN LATERAL ({UNIT_STATE_AT}) s ON true"
    measures = {
        "incidents": quality.incidents_sql(keys, as_of=as_of),
        "bugs": quality.bugs_sql(keys, as_of=as_of),
        "review_hours": quality.review_hours_sql(keys, as_of=as_of),
    }
    measured = ",\n        ".join(
        f"CASE WHEN {state} = 'completed' THEN {sql} ELSE 0 END AS {name}"
        for name, sql in measures.items()
    )
    satisfied_at = (
        "CASE WHEN w.satisfied_at <= %(as_of)s THEN w.satisfied_at END"
        if as_of
        else "w.satisfied_at"
    )
    return f"""
    SELECT w.id AS unit_id, w.triggered_at,
        COALESCE({completed_at}, w.triggered_at) AS placed_at,
        (w.triggered_at AT TIME ZONE 'UTC')::date AS trig_day,
        (COALESCE({completed_at}, w.triggered_at) AT TIME ZONE 'UTC')::date AS comp_day,
        {who.person_id} AS person_id, {who.team_id} AS team_id,
        v.definition_id, d.domain, {state} AS state, {units} AS units, w.ai_assisted,
        ({state} = 'pending' AND {satisfied_at} IS NOT NULL) AS maturing,
        CASE WHEN {state} = 'pending' THEN {settle_day_sql(satisfied_at)} END AS settle_day,
        {measured}
    FROM scoring_workunit w
    JOIN definitions_definitionversion v ON v.id = w.version_id
    JOIN definitions_definition d ON d.id = v.definition_id
    {TRIGGER_JOIN}
    {who.join}
    {then}
    WHERE {_unit_live_sql("w", as_of)} AND ({where})
    """  # noqa: S608 - fixed SQL; values travel as parameters


def settle_day_sql(satisfied_at: str) -> str:
    """SQL date: the UTC day by which a pending unit of version ``v`` settles.

    Requirements met (``satisfied_at`` set): the end of its survival window.
    Still waiting for one: the latest requirement deadline plus the survival
    window, the latest it can complete; it may void or expire sooner.
    """
    latest_requirement = (
        "(SELECT COALESCE(max((r->>'within_days')::int), 0)"
        " FROM jsonb_array_elements(v.requires) r)"
    )
    return f"""((COALESCE({satisfied_at},
            w.triggered_at + make_interval(days => {latest_requirement}))
        + make_interval(days => v.survive_days)) AT TIME ZONE 'UTC')::date"""


def entry_facts_sql(*, where: str = "TRUE", as_of: bool = False) -> str:
    """SELECT of the AWU entries of reportable units. ``where`` filters ``e``
    (scoring_awuentry) and ``w`` (its unit).

    Columns: id, effective_at, triggered_at, eff_day, trig_day, person_id,
    team_id, definition_id, domain, ai_assisted, delta.
    """
    entry_seen = "AND e.created_at <= %(as_of)s" if as_of else ""
    who = unit_attribution_sql(as_of=as_of)
    return f"""
    SELECT e.id, e.effective_at, w.triggered_at,
        (e.effective_at AT TIME ZONE 'UTC')::date AS eff_day,
        (w.triggered_at AT TIME ZONE 'UTC')::date AS trig_day,
        {who.person_id} AS person_id, {who.team_id} AS team_id,
        e.definition_id, e.domain, w.ai_assisted, e.delta
    FROM scoring_awuentry e
    JOIN scoring_workunit w ON w.id = e.unit_id
    {TRIGGER_JOIN}
    {who.join}
    WHERE {_unit_live_sql("w", as_of)} {entry_seen} AND ({where})
    """  # noqa: S608 - fixed SQL; values travel as parameters


def as_of_params(as_of: datetime | None) -> dict[str, Any]:
    return {"as_of": as_of} if as_of is not None else {}
