"""The GROUP BY behind the efficiency measures, over rollups or over raw facts.

A report is three sides summed per group: work units (counts and units by
state), AWU entries (credit), and token spend. Each side is one query; the
sides are merged per group key in ``awu.reports.measures``. The same SQL runs
over the rollup tables (days) or over the raw facts (timestamps): only the
relation and its time column differ, which is what lets the test suite hold
the rollups to the raw answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from awu.reports import facts
from awu.reports.query import ReportQuery
from ledger.models import Source
from ledger.replica import read_connection

Side = Literal["units", "entries", "usage"]
GroupKey = tuple[Any, ...]


@dataclass(frozen=True)
class Relation:
    """Where a side's rows come from: SQL yielding the rollup columns, and its time column."""

    sql: str
    time_column: str
    is_day: bool


# Groupings the monthly rollups (months, no person) can answer; with the person
# (a grouping or a filter) the person monthly rollups answer them. A week grouping
# is answered by the weekly rollups (no person, neither grouped nor filtered).
MONTHLY_DIMENSIONS = frozenset(
    {"team", "department", "cost_centre", "domain", "definition", "model", "month"}
)
PERSON_MONTHLY_DIMENSIONS = MONTHLY_DIMENSIONS | {"person"}
WEEKLY_DIMENSIONS = (MONTHLY_DIMENSIONS - {"month"}) | {"week"}


def by_person(query: ReportQuery, dimensions: tuple[str, ...]) -> bool:
    """Whether ``query`` grouped by ``dimensions`` needs the person rollups."""
    return "person" in dimensions or query.person is not None


@dataclass(frozen=True)
class PeriodSpan:
    """The whole periods (UTC months, or ISO weeks from Monday: ``grain``) inside a
    report's period: ``[first, after)``, either end open (None) where the period
    is. Days of the period outside it (its edges) come from the daily rollups."""

    grain: Literal["month", "week"]
    first: date | None
    after: date | None
    edges: bool  # whether the period has days outside the whole periods


def _month_ceil(day: date) -> date:
    return day if day.day == 1 else (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _week_ceil(day: date) -> date:
    return day + timedelta(days=-day.weekday() % 7)


def period_span(query: ReportQuery, dimensions: tuple[str, ...]) -> PeriodSpan | None:
    """The whole periods the period rollups can answer for ``query`` grouped by
    ``dimensions``, or None. Weeks for a week grouping (no person grouping or
    filter), months otherwise (by person, where the query needs the person); both
    need day-aligned bounds, no ``as_of`` and at least one whole period inside the
    report's."""
    if not (query.day_aligned and query.as_of is None):
        return None
    grain: Literal["month", "week"]
    if "week" in dimensions:
        if not (set(dimensions) <= WEEKLY_DIMENSIONS and query.person is None):
            return None
        grain, ceil = "week", _week_ceil
    elif set(dimensions) <= PERSON_MONTHLY_DIMENSIONS:
        grain, ceil = "month", _month_ceil
    else:
        return None
    start = query.start.date() if query.start is not None else None
    stop = query.stop.date() if query.stop is not None else None
    first = ceil(start) if start is not None else None
    # The period containing ``stop`` starts at or before it: the floor.
    after = None
    if stop is not None:
        after = stop - timedelta(days=stop.weekday()) if grain == "week" else stop.replace(day=1)
    if first is not None and after is not None and first >= after:
        return None
    return PeriodSpan(grain, first, after, edges=first != start or after != stop)


def periods_apply(query: ReportQuery, dimensions: tuple[str, ...]) -> bool:
    """True when the period rollups (monthly or weekly) answer ``query`` grouped by
    ``dimensions``, for its whole periods at least (the edges of a period that is
    not whole months or weeks come from the daily rollups)."""
    return period_span(query, dimensions) is not None


# The columns each side's period and daily rollups share (besides time and people).
_SHARED_COLUMNS: dict[str, str] = {
    "units": "team_id, definition_id, domain, state, ai_assisted, maturing, settle_day,"
    " unit_count, units_sum, incidents_sum, bugs_sum, review_hours_sum",
    "entries": "team_id, definition_id, domain, ai_assisted, entry_count, delta_sum",
    "usage": "team_id, provider, model, source_id, tied, records, unpriced, cost_usd,"
    " input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens",
}


def _with_edges(
    side: str,
    periods: Relation,
    daily: Relation,
    span: PeriodSpan,
    params: dict[str, Any],
    *,
    person: bool = False,
) -> Relation:
    """The period rows of the whole months or weeks, and the daily rows of the days
    around them, as one relation with the time column ``t``: a period row has its
    ``people`` set (``person_id`` NULL), a daily row its ``person_id`` (``people``
    NULL); :data:`_PEOPLE_MIXED` unites the two. A person monthly row (``person``)
    has its ``person_id``, like a daily one."""
    columns = _SHARED_COLUMNS[side]
    month_people = (
        "person_id, NULL::bigint[] AS people" if person else "NULL::bigint AS person_id, people"
    )
    period_where, edges = _span_conditions(span, periods.time_column, daily.time_column, params)
    arms = [
        f"SELECT {periods.time_column} AS t, {columns}, {month_people} FROM {periods.sql}"  # noqa: S608 - fixed names
        f" WHERE {period_where}",
        *(
            f"SELECT {daily.time_column} AS t, {columns}, person_id, NULL::bigint[]"  # noqa: S608 - fixed names
            f" FROM {daily.sql} WHERE {edge}"
            for edge in edges
        ),
    ]
    return Relation("(" + " UNION ALL ".join(arms) + ")", "t", True)


def _span_conditions(
    span: PeriodSpan, period_column: str, day_column: str, params: dict[str, Any]
) -> tuple[str, list[str]]:
    """The condition on the period rows of ``span``'s whole periods, and one
    condition per edge (the days before them, the days after) on the daily rows.
    Each edge is its own arm of the union: a plain range, which the day index (or
    a partial one) narrows, where one OR of the two would scan the whole period."""
    period_where, edges = [], []
    if span.first is not None:
        period_where.append(f"{period_column} >= %(span_first)s")
        edges.append(f"{day_column} < %(span_first)s")
        params["span_first"] = span.first
    if span.after is not None:
        period_where.append(f"{period_column} < %(span_after)s")
        edges.append(f"{day_column} >= %(span_after)s")
        params["span_after"] = span.after
    return " AND ".join(period_where) or "TRUE", edges


# The people by month (``awu.reports.models.UsagePeopleMonth`` and its siblings):
# per side, (table, its month column per basis, the daily rollup, its day column
# per basis). They answer a group's people when the report is grouped by these
# only and filters nothing finer than team and domain.
_PEOPLE_TABLES: dict[str, tuple[str, dict[str, str], str, dict[str, str]]] = {
    "usage": (
        "reports_usagepeoplemonth",
        {"triggered": "month", "completed": "month"},
        "reports_usagerollup",
        {"triggered": "day", "completed": "day"},
    ),
    "units": (
        "reports_unitpeoplemonth",
        {"triggered": "trig_month", "completed": "comp_month"},
        "reports_unitrollup",
        {"triggered": "trig_day", "completed": "comp_day"},
    ),
    "entries": (
        "reports_entrypeoplemonth",
        {"triggered": "trig_month", "completed": "eff_month"},
        "reports_entryrollup",
        {"triggered": "trig_day", "completed": "eff_day"},
    ),
}
PEOPLE_DIMENSIONS = frozenset({"team", "department", "cost_centre", "domain", "month"})


def people_by_month_apply(query: ReportQuery, dimensions: tuple[str, ...]) -> bool:
    """Whether the people by month answer the people of ``query``'s groups."""
    return set(dimensions) <= PEOPLE_DIMENSIONS and not (
        query.person or query.source or query.provider or query.model
        or query.definition or query.ai
    )  # fmt: skip


def _people_relation(
    side: str, query: ReportQuery, span: PeriodSpan, params: dict[str, Any], time_column: str
) -> str:
    """The people by month of the period's whole months, and the daily rollup's
    people of the days around them, with the time column named ``time_column``: a
    monthly row has its ``people`` set, a daily row its ``person_id``."""
    table, month_columns, daily, day_columns = _PEOPLE_TABLES[side]
    month, day = month_columns[query.basis], day_columns[query.basis]
    domain = "domain" if side != "usage" else "NULL::varchar AS domain"
    monthly = f"SELECT {month} AS {time_column}, team_id, {domain}, NULL::bigint AS person_id, people FROM {table}"  # noqa: S608 - fixed names
    if not span.edges:
        return f"({monthly})"
    month_where, edges = _span_conditions(span, month, day, params)
    arms = [
        f"{monthly} WHERE {month_where}",
        *(
            f"SELECT {day}, team_id, {domain}, person_id, NULL::bigint[] FROM {daily} WHERE {edge}"  # noqa: S608 - fixed names
            for edge in edges
        ),
    ]
    return "(" + " UNION ALL ".join(arms) + ")"


def _units_relation(
    query: ReportQuery, *, raw: bool, grain: str | None = None, person: bool = False
) -> Relation:
    if grain is not None:
        column = f"trig_{grain}" if query.basis == "triggered" else f"comp_{grain}"
        table = "reports_unitpersonmonthrollup" if person else f"reports_unit{grain}rollup"
        return Relation(table, column, True)
    if not raw:
        column = "trig_day" if query.basis == "triggered" else "comp_day"
        return Relation("reports_unitrollup", column, True)
    sql = f"""(SELECT triggered_at, placed_at, person_id, team_id, definition_id, domain, state,
        ai_assisted, maturing, settle_day, 1 AS unit_count, units AS units_sum,
        incidents AS incidents_sum, bugs AS bugs_sum, review_hours AS review_hours_sum
        FROM ({facts.unit_facts_sql(as_of=query.as_of is not None)}) x)"""  # noqa: S608 - fixed SQL
    return Relation(sql, "triggered_at" if query.basis == "triggered" else "placed_at", False)


def _entries_relation(
    query: ReportQuery, *, raw: bool, grain: str | None = None, person: bool = False
) -> Relation:
    if grain is not None:
        column = f"trig_{grain}" if query.basis == "triggered" else f"eff_{grain}"
        table = "reports_entrypersonmonthrollup" if person else f"reports_entry{grain}rollup"
        return Relation(table, column, True)
    if not raw:
        column = "trig_day" if query.basis == "triggered" else "eff_day"
        return Relation("reports_entryrollup", column, True)
    sql = f"""(SELECT triggered_at, effective_at, person_id, team_id, definition_id, domain,
        ai_assisted, 1 AS entry_count, delta AS delta_sum
        FROM ({facts.entry_facts_sql(as_of=query.as_of is not None)}) x)"""  # noqa: S608 - fixed SQL
    return Relation(sql, "triggered_at" if query.basis == "triggered" else "effective_at", False)


def _usage_relation(
    query: ReportQuery, *, raw: bool, grain: str | None = None, person: bool = False
) -> Relation:
    if grain is not None:
        table = "reports_usagepersonmonthrollup" if person else f"reports_usage{grain}rollup"
        return Relation(table, grain, True)
    if not raw:
        return Relation("reports_usagerollup", "day", True)
    sql = f"""(SELECT occurred_at, person_id, team_id, provider, model, source_id, tied,
        1 AS records, unpriced::int AS unpriced, cost AS cost_usd, input_tokens, output_tokens,
        cache_creation_input_tokens, cache_read_input_tokens
        FROM ({facts.usage_facts_sql(as_of=query.as_of is not None)}) x)"""  # noqa: S608 - fixed SQL
    return Relation(sql, "occurred_at", False)


def _source_ids(name: str) -> list[int]:
    kind, _, slug = name.rpartition(":")
    qs = Source.objects.filter(slug=slug)
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs.values_list("pk", flat=True))


_PEOPLE = "array_agg(DISTINCT f.person_id) FILTER (WHERE f.person_id IS NOT NULL) AS people"
# Monthly and weekly rows carry their people as a set; a group's people are its rows' sets
# concatenated (``awu.reports.measures`` counts the distinct ids: sorting them out
# here per group cost more than the rest of a year-long team report).
_PEOPLE_MONTHLY = "reports_array_union(f.people) AS people"
# A period with daily edges: the period rows' sets and the daily rows' people (each
# daily row as a one-person set would make the concatenation quadratic in the rows).
_PEOPLE_MIXED = (
    "reports_array_union(f.people) FILTER (WHERE f.people IS NOT NULL)"
    " || array_agg(DISTINCT f.person_id) FILTER (WHERE f.person_id IS NOT NULL) AS people"
)

# Each quality measure of the completed units, in all and split by AI assistance
# ("other": not assisted, or not known).
_SPLITS = {"": "TRUE", "_ai": "f.ai_assisted", "_other": "f.ai_assisted IS NOT TRUE"}
QUALITY_SUMS = "\n        ".join(
    f"COALESCE(sum(f.{measure}_sum) FILTER (WHERE f.state = 'completed' AND {cond}), 0)"
    f" AS {measure}{suffix},"
    for measure in ("incidents", "bugs", "review_hours")
    for suffix, cond in _SPLITS.items()
)

_MEASURES: dict[Side, str] = {
    "units": f"""sum(f.unit_count) AS unit_count,
        COALESCE(sum(f.unit_count) FILTER (WHERE f.state = 'completed'), 0) AS completed_units,
        COALESCE(sum(f.unit_count) FILTER (WHERE f.state = 'completed' AND f.ai_assisted), 0) AS ai_completed_units,
        COALESCE(sum(f.units_sum) FILTER (WHERE f.state = 'pending'), 0) AS awus_pending,
        COALESCE(sum(f.units_sum) FILTER (WHERE f.state = 'voided'), 0) AS awus_voided,
        COALESCE(sum(f.units_sum) FILTER (WHERE f.state = 'expired'), 0) AS awus_expired,
        COALESCE(sum(f.unit_count) FILTER (WHERE f.state = 'voided'), 0) AS voided_units,
        COALESCE(sum(f.unit_count) FILTER (WHERE f.state = 'pending'), 0) AS pending_units,
        COALESCE(sum(f.unit_count) FILTER (WHERE f.maturing), 0) AS maturing_units,
        COALESCE(sum(f.units_sum) FILTER (WHERE f.maturing), 0) AS awus_maturing,
        max(f.settle_day) FILTER (WHERE f.state = 'pending') AS settles_by,
        {QUALITY_SUMS}
        array_agg(DISTINCT f.person_id) FILTER (WHERE f.person_id IS NOT NULL) AS people""",
    "entries": """sum(f.delta_sum) AS awus_completed,
        array_agg(DISTINCT f.person_id) FILTER (WHERE f.person_id IS NOT NULL) AS people""",
    "usage": """sum(f.records) AS records, sum(f.unpriced) AS unpriced, sum(f.cost_usd) AS cost,
        sum(f.input_tokens) AS input_tokens, sum(f.output_tokens) AS output_tokens,
        sum(f.cache_creation_input_tokens) AS cache_creation_input_tokens,
        sum(f.cache_read_input_tokens) AS cache_read_input_tokens,
        COALESCE(sum(f.cost_usd) FILTER (WHERE f.tied = 'completed'), 0) AS tied_completed,
        COALESCE(sum(f.cost_usd) FILTER (WHERE f.tied = 'voided'), 0) AS tied_voided,
        COALESCE(sum(f.cost_usd) FILTER (WHERE f.tied = 'pending'), 0) AS tied_pending,
        COALESCE(sum(f.cost_usd) FILTER (WHERE f.tied = 'expired'), 0) AS tied_expired,
        COALESCE(sum(f.cost_usd) FILTER (WHERE f.tied = 'none'), 0) AS tied_none,
        array_agg(DISTINCT f.person_id) FILTER (WHERE f.person_id IS NOT NULL) AS people""",
}


# Each team id as reports count it: a merged team under the team it was merged
# into. A small derived table, so rollup rows join it once, by hash.
_TEAMS_AS_COUNTED = (
    "SELECT m.id, c.slug, c.domain FROM ledger_team m"
    " JOIN ledger_team c ON c.id = COALESCE(m.merged_into_id, m.id)"
)
# The team ids counted as the team ``%(team)s``.
_TEAM_IDS_COUNTED_AS = f"SELECT tc.id FROM ({_TEAMS_AS_COUNTED}) tc WHERE tc.slug = %(team)s"  # noqa: S608 - fixed SQL
# The same, with the org tree read now (so a new parent or cost centre shows at the
# next query, past periods included, without touching the rollups): the department
# is the counted team's top ancestor (as counted itself), the cost centre the
# nearest one set on the team or an ancestor. The walk is bounded: a tree deeper
# than that is a cycle, which the directory refuses.
_TEAMS_IN_TREE = """WITH RECURSIVE up (team_id, anc, depth) AS (
        SELECT id, id, 0 FROM ledger_team
        UNION ALL
        SELECT up.team_id, p.parent_id, up.depth + 1
        FROM up JOIN ledger_team p ON p.id = up.anc
        WHERE p.parent_id IS NOT NULL AND up.depth < 64
    ), top AS (
        SELECT DISTINCT ON (up.team_id) up.team_id, tc.slug AS department
        FROM up JOIN ledger_team a ON a.id = up.anc
        JOIN ledger_team tc ON tc.id = COALESCE(a.merged_into_id, a.id)
        ORDER BY up.team_id, up.depth DESC
    ), centre AS (
        SELECT DISTINCT ON (up.team_id) up.team_id, a.cost_centre
        FROM up JOIN ledger_team a ON a.id = up.anc
        WHERE a.cost_centre <> ''
        ORDER BY up.team_id, up.depth
    )
    SELECT m.id, c.slug, c.domain, top.department, centre.cost_centre
    FROM ledger_team m
    JOIN ledger_team c ON c.id = COALESCE(m.merged_into_id, m.id)
    JOIN top ON top.team_id = c.id
    LEFT JOIN centre ON centre.team_id = c.id"""
_TREE_DIMENSIONS = frozenset({"department", "cost_centre"})


def side_rows(
    side: Side,
    query: ReportQuery,
    *,
    raw: bool,
    group_by: tuple[str, ...] | None = None,
    extra_group: tuple[str, ...] = (),
    periods: bool | None = None,
    maturing_only: bool = False,
    people: bool = True,
) -> list[dict[str, Any]]:
    """One side of a report: a dict per group with ``key`` (the group values in
    ``group_by`` order, then ``extra_group``) and the side's sums.

    ``extra_group`` may hold ``person`` and ``team`` beyond the report's own
    grouping (the spend deciles rank people). ``raw`` reads the raw facts
    instead of the rollups. ``periods`` picks the period rollups (True: the
    weekly ones for a week grouping, the monthly ones otherwise, for the whole
    weeks or months of the period, with the daily rollups for the days around
    them), the daily ones (False) or the period ones whenever they can answer
    (None).
    ``maturing_only`` keeps the units side to its maturing units; without
    ``people`` the groups' people are not gathered (``people`` is None): the
    costliest part of a long period's read, for callers that only need sums.
    """
    dimensions = (*(group_by if group_by is not None else query.group_by), *extra_group)
    span = None if raw or periods is False else period_span(query, dimensions)
    if periods and span is None:
        raise ValueError("the period rollups cannot answer this query")
    relation_of = {
        "units": _units_relation,
        "entries": _entries_relation,
        "usage": _usage_relation,
    }[side]
    # The person monthly rollups carry each row's person as the daily ones do.
    person = by_person(query, dimensions)
    grain = span.grain if span is not None else None
    relation = relation_of(query, raw=raw, grain=grain, person=person)
    params: dict[str, Any] = facts.as_of_params(query.as_of)
    mixed = False
    if grain is not None and span is not None and span.edges:
        mixed = True
        daily = relation_of(query, raw=False)
        relation = _with_edges(side, relation, daily, span, params, person=person)
    time_col = f"f.{relation.time_column}"
    where: list[str] = []
    if query.start is not None:
        where.append(f"{time_col} >= %(start)s")
        params["start"] = query.start.date() if relation.is_day else query.start
    if query.stop is not None:
        where.append(f"{time_col} < %(stop)s")
        params["stop"] = query.stop.date() if relation.is_day else query.stop
    if query.team is not None:
        where.append("t.slug = %(team)s")
        # The same condition on the rows' own team ids (the team and the teams
        # merged into it), so every scan drops the other teams' rows before any
        # join or sum: a one-team report reads a team's share of the rows.
        where.append(f"f.team_id = ANY(ARRAY({_TEAM_IDS_COUNTED_AS}))")
        params["team"] = query.team
    if query.teams is not None:
        # The caller's team limits (ledger.access): every side, raw or rolled up,
        # is filtered here and nowhere else, so no grouping, ranking or ratio
        # reads a row of another team. Rows with no team need every team.
        where.append("f.team_id = ANY(%(visible_teams)s)")
        params["visible_teams"] = sorted(query.teams)
    if query.person is not None:
        where.append("f.person_id = %(person)s")
        params["person"] = query.person
    if query.domain is not None:
        # Spend has no definition; it belongs to a domain through its team.
        where.append("f.domain = %(domain)s" if side != "usage" else "t.domain = %(domain)s")
        params["domain"] = query.domain
    if maturing_only:
        where.append("f.maturing")
    if side != "usage":
        if query.definition is not None:
            where.append("d.key = %(definition)s")
            params["definition"] = query.definition
        if query.ai == "assisted":
            where.append("f.ai_assisted IS TRUE")
        elif query.ai == "not":
            where.append("f.ai_assisted IS NOT TRUE")
    else:
        if query.source is not None:
            where.append("f.source_id = ANY(%(sources)s)")
            params["sources"] = _source_ids(query.source)
        if query.provider is not None:
            where.append("f.provider = %(provider)s")
            params["provider"] = query.provider
        if query.model is not None:
            where.append("f.model = %(model)s")
            params["model"] = query.model

    keys: list[str] = []
    for dimension in dimensions:
        if dimension == "team":
            keys.append("t.slug")
        elif dimension in _TREE_DIMENSIONS:
            keys.append(f"t.{dimension}")
        elif dimension == "person":
            keys.append("f.person_id")
        elif dimension == "domain":
            keys.append("f.domain" if side != "usage" else "NULLIF(t.domain, '')")
        elif dimension == "definition":
            keys.append("d.key")
        elif dimension == "model":
            keys.append("f.model")
        else:  # week, month
            moment = time_col if relation.is_day else f"({time_col} AT TIME ZONE 'UTC')"
            keys.append(f"date_trunc('{dimension}', {moment})::date")
    join_definition = (
        "LEFT JOIN definitions_definition d ON d.id = f.definition_id" if side != "usage" else ""
    )
    select_keys = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    measures = _MEASURES[side]
    teams = _TEAMS_IN_TREE if _TREE_DIMENSIONS & set(dimensions) else _TEAMS_AS_COUNTED
    people_sql = ""
    if not people:
        measures = measures.replace(_PEOPLE, "NULL::bigint[] AS people")
    elif grain == "month" and span is not None and people_by_month_apply(query, dimensions):
        # The groups' people from the people by month (one small set per month and
        # team), not from the sums' rows: a second, narrow GROUP BY.
        measures = measures.replace(_PEOPLE, "NULL::bigint[] AS people")
        relation_people = _people_relation(side, query, span, params, relation.time_column)
        people_sql = f"""
            SELECT {select_keys + "," if keys else ""} {_PEOPLE_MIXED}
            FROM {relation_people} f
            LEFT JOIN ({teams}) t ON t.id = f.team_id
            WHERE {" AND ".join(where) or "TRUE"}
            {"GROUP BY " + ", ".join(f"k{i}" for i in range(len(keys))) if keys else ""}
        """  # noqa: S608 - as below
    elif grain is not None and not person:
        # Monthly and weekly rows carry their people as a set: the group's people
        # are the concatenated sets (and the edge days' people), counted once each
        # later.
        measures = measures.replace(_PEOPLE, _PEOPLE_MIXED if mixed else _PEOPLE_MONTHLY)
    elif "person" in dimensions:
        # Grouped by person: a group's people are its person. Without a DISTINCT
        # aggregate the plan can hash the groups instead of sorting every row.
        measures = measures.replace(
            _PEOPLE,
            "CASE WHEN f.person_id IS NOT NULL THEN ARRAY[f.person_id] END AS people",
        )
    sql = f"""
        SELECT {select_keys + "," if keys else ""} {measures}
        FROM {relation.sql} f
        LEFT JOIN ({teams}) t ON t.id = f.team_id
        {join_definition}
        WHERE {" AND ".join(where) or "TRUE"}
        {"GROUP BY " + ", ".join(f"k{i}" for i in range(len(keys))) if keys else ""}
    """  # noqa: S608 - identifiers come from fixed choices; values travel as parameters
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description or ()]
        rows = cursor.fetchall()
        groups_people: dict[GroupKey, Any] = {}
        if people_sql:
            cursor.execute(people_sql, params)
            for found in cursor.fetchall():
                groups_people[tuple(found[: len(keys)])] = found[len(keys)]
    out = []
    for row in rows:
        record = dict(zip(names, row, strict=True))
        record["key"] = tuple(record.pop(f"k{i}") for i in range(len(keys)))
        if people_sql:
            record["people"] = groups_people.get(record["key"])
        out.append(record)
    # An aggregate with no GROUP BY yields one row of NULLs over no input: drop it.
    if not keys:
        out = [r for r in out if any(v not in (None, 0, []) for k, v in r.items() if k != "key")]
    return out
