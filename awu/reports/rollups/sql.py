"""The statements that write the rollups, and how the rollup modules run SQL.

Each INSERT takes its rows from ``awu.reports.facts`` (``{facts}``) or from the
daily rollups (``{where}``); the MERGEs add new usage's sums to existing rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection

from ledger.replica import read_connection


def fetch(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of ``sql``, from the replica when the request reads from one."""
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params or {})
        return list(cursor.fetchall())


def run(sql: str, params: dict[str, Any] | None = None) -> int:
    """Execute ``sql``; returns the number of rows it wrote."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return int(cursor.rowcount)


# --- Recomputing days and months -----------------------------------------------------

USAGE_INSERT = """
INSERT INTO reports_usagerollup (day, person_id, team_id, provider, model, source_id, tied,
    records, unpriced, cost_usd, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens)
SELECT day, person_id, team_id, provider, model, source_id, tied,
    count(*), count(*) FILTER (WHERE unpriced), sum(cost), sum(input_tokens), sum(output_tokens),
    sum(cache_creation_input_tokens), sum(cache_read_input_tokens)
FROM ({facts}) f
GROUP BY day, person_id, team_id, provider, model, source_id, tied
"""

ENTRY_INSERT = """
INSERT INTO reports_entryrollup (eff_day, trig_day, person_id, team_id, definition_id, domain,
    ai_assisted, entry_count, delta_sum)
SELECT eff_day, trig_day, person_id, team_id, definition_id, domain, ai_assisted, count(*), sum(delta)
FROM ({facts}) f
GROUP BY eff_day, trig_day, person_id, team_id, definition_id, domain, ai_assisted
"""

UNIT_FACT_INSERT = """
INSERT INTO reports_unitfact (unit_id, trig_day, comp_day, person_id, team_id, definition_id,
    domain, state, units, ai_assisted, maturing, settle_day, incidents, bugs, review_hours)
SELECT unit_id, trig_day, comp_day, person_id, team_id, definition_id, domain, state, units,
    ai_assisted, maturing, settle_day, incidents, bugs, review_hours
FROM ({facts}) f
"""

UNIT_ROLLUP_INSERT = """
INSERT INTO reports_unitrollup (trig_day, comp_day, person_id, team_id, definition_id, domain,
    state, ai_assisted, maturing, settle_day, unit_count, units_sum, incidents_sum, bugs_sum,
    review_hours_sum)
SELECT trig_day, comp_day, person_id, team_id, definition_id, domain, state, ai_assisted,
    maturing, settle_day, count(*), sum(units), sum(incidents), sum(bugs), sum(review_hours)
FROM reports_unitfact
WHERE {where}
GROUP BY trig_day, comp_day, person_id, team_id, definition_id, domain, state, ai_assisted,
    maturing, settle_day
"""


# Records still queued are not folded in yet: the refresh that takes them adds them.
NOT_QUEUED = "NOT EXISTS (SELECT 1 FROM reports_usagequeue q WHERE q.usage_id = u.id)"


# The rollups by period without the person (a people set per row): by UTC month
# (``month``) and by ISO week (``week``, Monday to Sunday), the same statements.
def _usage_period_insert(grain: str) -> str:
    return f"""
INSERT INTO reports_usage{grain}rollup ({grain}, team_id, provider, model, source_id, tied,
    records, unpriced, cost_usd, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens, people)
SELECT date_trunc('{grain}', day)::date AS {grain}, team_id, provider, model, source_id, tied,
    sum(records), sum(unpriced), sum(cost_usd), sum(input_tokens), sum(output_tokens),
    sum(cache_creation_input_tokens), sum(cache_read_input_tokens),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{{{}}}}')
FROM reports_usagerollup
WHERE {{where}}
GROUP BY 1, team_id, provider, model, source_id, tied
"""  # noqa: S608 - grain is one of two constants


def _unit_period_insert(grain: str) -> str:
    return f"""
INSERT INTO reports_unit{grain}rollup (trig_{grain}, comp_{grain}, team_id, definition_id, domain,
    state, ai_assisted, maturing, settle_day, unit_count, units_sum, incidents_sum, bugs_sum,
    review_hours_sum, people)
SELECT date_trunc('{grain}', trig_day)::date, date_trunc('{grain}', comp_day)::date, team_id,
    definition_id, domain, state, ai_assisted, maturing, max(settle_day), sum(unit_count),
    sum(units_sum), sum(incidents_sum), sum(bugs_sum), sum(review_hours_sum),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{{{}}}}')
FROM reports_unitrollup
WHERE {{where}}
GROUP BY 1, 2, team_id, definition_id, domain, state, ai_assisted, maturing
"""  # noqa: S608 - grain is one of two constants


def _entry_period_insert(grain: str) -> str:
    return f"""
INSERT INTO reports_entry{grain}rollup (eff_{grain}, trig_{grain}, team_id, definition_id, domain,
    ai_assisted, entry_count, delta_sum, people)
SELECT date_trunc('{grain}', eff_day)::date, date_trunc('{grain}', trig_day)::date, team_id,
    definition_id, domain, ai_assisted, sum(entry_count), sum(delta_sum),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{{{}}}}')
FROM reports_entryrollup
WHERE {{where}}
GROUP BY 1, 2, team_id, definition_id, domain, ai_assisted
"""  # noqa: S608 - grain is one of two constants


USAGE_MONTH_INSERT = _usage_period_insert("month")
UNIT_MONTH_INSERT = _unit_period_insert("month")
ENTRY_MONTH_INSERT = _entry_period_insert("month")

# The person monthly rollups: the same sums, the person kept (no people set).
USAGE_PERSON_MONTH_INSERT = """
INSERT INTO reports_usagepersonmonthrollup (month, person_id, team_id, provider, model, source_id,
    tied, records, unpriced, cost_usd, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens)
SELECT date_trunc('month', day)::date AS month, person_id, team_id, provider, model, source_id,
    tied, sum(records), sum(unpriced), sum(cost_usd), sum(input_tokens), sum(output_tokens),
    sum(cache_creation_input_tokens), sum(cache_read_input_tokens)
FROM reports_usagerollup
WHERE {where}
GROUP BY 1, person_id, team_id, provider, model, source_id, tied
"""

UNIT_PERSON_MONTH_INSERT = """
INSERT INTO reports_unitpersonmonthrollup (trig_month, comp_month, person_id, team_id,
    definition_id, domain, state, ai_assisted, maturing, settle_day, unit_count, units_sum,
    incidents_sum, bugs_sum, review_hours_sum)
SELECT date_trunc('month', trig_day)::date, date_trunc('month', comp_day)::date, person_id,
    team_id, definition_id, domain, state, ai_assisted, maturing, max(settle_day),
    sum(unit_count), sum(units_sum), sum(incidents_sum), sum(bugs_sum), sum(review_hours_sum)
FROM reports_unitrollup
WHERE {where}
GROUP BY 1, 2, person_id, team_id, definition_id, domain, state, ai_assisted, maturing
"""

ENTRY_PERSON_MONTH_INSERT = """
INSERT INTO reports_entrypersonmonthrollup (eff_month, trig_month, person_id, team_id,
    definition_id, domain, ai_assisted, entry_count, delta_sum)
SELECT date_trunc('month', eff_day)::date, date_trunc('month', trig_day)::date, person_id,
    team_id, definition_id, domain, ai_assisted, sum(entry_count), sum(delta_sum)
FROM reports_entryrollup
WHERE {where}
GROUP BY 1, 2, person_id, team_id, definition_id, domain, ai_assisted
"""

# The distinct people per month and team (and domain): one set per row.
USAGE_PEOPLE_INSERT = """
INSERT INTO reports_usagepeoplemonth (month, team_id, people)
SELECT date_trunc('month', day)::date, team_id,
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{}}')
FROM reports_usagerollup
WHERE {where}
GROUP BY 1, team_id
"""

UNIT_PEOPLE_INSERT = """
INSERT INTO reports_unitpeoplemonth (trig_month, comp_month, team_id, domain, people)
SELECT date_trunc('month', trig_day)::date, date_trunc('month', comp_day)::date, team_id, domain,
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{}}')
FROM reports_unitrollup
WHERE {where}
GROUP BY 1, 2, team_id, domain
"""

ENTRY_PEOPLE_INSERT = """
INSERT INTO reports_entrypeoplemonth (eff_month, trig_month, team_id, domain, people)
SELECT date_trunc('month', eff_day)::date, date_trunc('month', trig_day)::date, team_id, domain,
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{}}')
FROM reports_entryrollup
WHERE {where}
GROUP BY 1, 2, team_id, domain
"""

# Per side, its month-grained rollups: (table, its month column, the daily table's
# day column, insert). Each is re-derived from the side's daily rollup.
PeriodRollups = dict[str, tuple[tuple[str, str, str, str], ...]]
MONTHLY: PeriodRollups = {
    "usage": (
        ("reports_usagemonthrollup", "month", "day", USAGE_MONTH_INSERT),
        ("reports_usagepersonmonthrollup", "month", "day", USAGE_PERSON_MONTH_INSERT),
        ("reports_usagepeoplemonth", "month", "day", USAGE_PEOPLE_INSERT),
    ),
    "units": (
        ("reports_unitmonthrollup", "trig_month", "trig_day", UNIT_MONTH_INSERT),
        ("reports_unitpersonmonthrollup", "trig_month", "trig_day", UNIT_PERSON_MONTH_INSERT),
        ("reports_unitpeoplemonth", "trig_month", "trig_day", UNIT_PEOPLE_INSERT),
    ),
    "entries": (
        ("reports_entrymonthrollup", "eff_month", "eff_day", ENTRY_MONTH_INSERT),
        ("reports_entrypersonmonthrollup", "eff_month", "eff_day", ENTRY_PERSON_MONTH_INSERT),
        ("reports_entrypeoplemonth", "eff_month", "eff_day", ENTRY_PEOPLE_INSERT),
    ),
}
# Per side, its week-grained rollups (a week grouping: the trend by week), alike.
WEEKLY: PeriodRollups = {
    "usage": (("reports_usageweekrollup", "week", "day", _usage_period_insert("week")),),
    "units": (("reports_unitweekrollup", "trig_week", "trig_day", _unit_period_insert("week")),),
    "entries": (("reports_entryweekrollup", "eff_week", "eff_day", _entry_period_insert("week")),),
}
# Each grain with its rollups: what a recomputed day re-derives.
PERIODS: dict[str, PeriodRollups] = {"month": MONTHLY, "week": WEEKLY}
PERIOD_TABLES = tuple(
    table for grained in PERIODS.values() for tables in grained.values() for table, *_ in tables
)
ROLLUP_TABLES = (
    "reports_usagerollup", "reports_entryrollup", "reports_unitrollup", "reports_unitfact",
    *PERIOD_TABLES,
)  # fmt: skip


# --- Adding new usage -----------------------------------------------------------------

# The measures of a usage rollup row, summed when rows are combined.
_USAGE_SUMS = (
    "records", "unpriced", "cost_usd", "input_tokens", "output_tokens",
    "cache_creation_input_tokens", "cache_read_input_tokens",
)  # fmt: skip
_USAGE_KEYS = ("team_id", "provider", "model", "source_id", "tied")
_NULLABLE_KEYS = {"person_id", "team_id"}


def _usage_merge_sql(table: str, keys: Iterable[str], *, people: bool = False) -> str:
    """MERGE the rows of ``source`` (a subquery named in the statement) into ``table``:
    matching rows (same keys, NULL matching NULL) get the sums added, the others are
    inserted. With ``people`` the people sets are united as well."""
    keys = list(keys)
    match = " AND ".join(
        f"r.{k} IS NOT DISTINCT FROM d.{k}" if k in _NULLABLE_KEYS else f"r.{k} = d.{k}"
        for k in keys
    )
    added = [f"{m} = r.{m} + d.{m}" for m in _USAGE_SUMS]
    if people:
        added.append(
            "people = ARRAY(SELECT DISTINCT p FROM unnest(r.people || d.people) p ORDER BY p)"
        )
    columns = [*keys, *_USAGE_SUMS, *(["people"] if people else [])]
    return (
        f"MERGE INTO {table} r USING ({{source}}) d ON {match}"  # noqa: S608 - constant names
        f" WHEN MATCHED THEN UPDATE SET {', '.join(added)}"
        f" WHEN NOT MATCHED THEN INSERT ({', '.join(columns)})"
        f" VALUES ({', '.join(f'd.{c}' for c in columns)})"
    )


USAGE_DAY_MERGE = _usage_merge_sql("reports_usagerollup", ["day", "person_id", *_USAGE_KEYS])
USAGE_MONTH_MERGE = _usage_merge_sql(
    "reports_usagemonthrollup", ["month", *_USAGE_KEYS], people=True
)
USAGE_WEEK_MERGE = _usage_merge_sql("reports_usageweekrollup", ["week", *_USAGE_KEYS], people=True)
USAGE_PERSON_MONTH_MERGE = _usage_merge_sql(
    "reports_usagepersonmonthrollup", ["month", "person_id", *_USAGE_KEYS]
)

USAGE_ADDED = """
INSERT INTO reports_usageadded
SELECT day, person_id, team_id, provider, model, source_id, tied,
    count(*) AS records, count(*) FILTER (WHERE unpriced) AS unpriced, sum(cost) AS cost_usd,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
    sum(cache_read_input_tokens) AS cache_read_input_tokens
FROM ({facts}) f
GROUP BY day, person_id, team_id, provider, model, source_id, tied
"""


def _usage_added_by(grain: str) -> str:
    """The added usage's sums by ``grain`` (month or week) without the person, for
    the periods not re-derived (``%(rebuilt)s``)."""
    return f"""
SELECT date_trunc('{grain}', day)::date AS {grain}, team_id, provider, model, source_id, tied,
    sum(records) AS records, sum(unpriced) AS unpriced, sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
    sum(cache_read_input_tokens) AS cache_read_input_tokens,
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{}}') AS people
FROM reports_usageadded
WHERE NOT (date_trunc('{grain}', day)::date = ANY(%(rebuilt)s::date[]))
GROUP BY 1, team_id, provider, model, source_id, tied
"""  # noqa: S608 - grain is one of two constants


USAGE_ADDED_BY_MONTH = _usage_added_by("month")
USAGE_ADDED_BY_WEEK = _usage_added_by("week")

USAGE_ADDED_BY_PERSON_MONTH = """
SELECT date_trunc('month', day)::date AS month, person_id, team_id, provider, model, source_id,
    tied, sum(records) AS records, sum(unpriced) AS unpriced, sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
    sum(cache_read_input_tokens) AS cache_read_input_tokens
FROM reports_usageadded
WHERE NOT (date_trunc('month', day)::date = ANY(%(rebuilt)s::date[]))
GROUP BY 1, person_id, team_id, provider, model, source_id, tied
"""

USAGE_PEOPLE_MERGE = """
MERGE INTO reports_usagepeoplemonth r USING (
    SELECT date_trunc('month', day)::date AS month, team_id,
        COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{}') AS people
    FROM reports_usageadded
    WHERE NOT (date_trunc('month', day)::date = ANY(%(rebuilt)s::date[]))
    GROUP BY 1, team_id
) d ON r.month = d.month AND r.team_id IS NOT DISTINCT FROM d.team_id
WHEN MATCHED THEN UPDATE SET people = ARRAY(SELECT DISTINCT p FROM unnest(r.people || d.people) p ORDER BY p)
WHEN NOT MATCHED THEN INSERT (month, team_id, people) VALUES (d.month, d.team_id, d.people)
"""
