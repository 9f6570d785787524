"""Keeping the report rollups in step with the ledger and the scoring state.

Every write that changes a rollup appends its keys to a queue in the same
transaction (triggers, migrations 0003 and 0004). ``rollups_refresh`` takes the
queues, works out the UTC days they touch, and recomputes those days from the raw
tables; new token usage alone is added to its day's and month's rows instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from awu.reports import facts

# pg_advisory_xact_lock key: one refresh at a time.
LOCK_KEY = 0x4157_5552  # "AWUR"


@dataclass
class RefreshStats:
    full: bool = False
    usage_days: set[date] = field(default_factory=set)  # recomputed whole
    usage_added: int = 0  # new usage records whose sums were added to their day
    entry_days: set[date] = field(default_factory=set)
    unit_days: set[date] = field(default_factory=set)
    units: int = 0
    skipped: bool = False


def _fetch(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return list(cursor.fetchall())


def _run(sql: str, params: dict[str, Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


# --- Recomputing days ----------------------------------------------------------------

_USAGE_INSERT = """
INSERT INTO reports_usagerollup (day, person_id, team_id, provider, model, source_id, tied,
    records, unpriced, cost_usd, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens)
SELECT day, person_id, team_id, provider, model, source_id, tied,
    count(*), count(*) FILTER (WHERE unpriced), sum(cost), sum(input_tokens), sum(output_tokens),
    sum(cache_creation_input_tokens), sum(cache_read_input_tokens)
FROM ({facts}) f
GROUP BY day, person_id, team_id, provider, model, source_id, tied
"""

_ENTRY_INSERT = """
INSERT INTO reports_entryrollup (eff_day, trig_day, person_id, team_id, definition_id, domain,
    ai_assisted, entry_count, delta_sum)
SELECT eff_day, trig_day, person_id, team_id, definition_id, domain, ai_assisted, count(*), sum(delta)
FROM ({facts}) f
GROUP BY eff_day, trig_day, person_id, team_id, definition_id, domain, ai_assisted
"""

_UNIT_FACT_INSERT = """
INSERT INTO reports_unitfact (unit_id, trig_day, comp_day, person_id, team_id, definition_id,
    domain, state, units, ai_assisted)
SELECT unit_id, trig_day, comp_day, person_id, team_id, definition_id, domain, state, units, ai_assisted
FROM ({facts}) f
"""

_UNIT_ROLLUP_INSERT = """
INSERT INTO reports_unitrollup (trig_day, comp_day, person_id, team_id, definition_id, domain,
    state, ai_assisted, unit_count, units_sum)
SELECT trig_day, comp_day, person_id, team_id, definition_id, domain, state, ai_assisted,
    count(*), sum(units)
FROM reports_unitfact
WHERE {where}
GROUP BY trig_day, comp_day, person_id, team_id, definition_id, domain, state, ai_assisted
"""


# Records still queued are not folded in yet: the refresh that takes them adds them.
_NOT_QUEUED = "NOT EXISTS (SELECT 1 FROM reports_usagequeue q WHERE q.usage_id = u.id)"


def _usage_days_rebuild(days: Iterable[date]) -> None:
    for day in sorted(set(days)):
        start, stop = _day_bounds(day)
        _run("DELETE FROM reports_usagerollup WHERE day = %(day)s", {"day": day})
        where = f"u.occurred_at >= %(start)s AND u.occurred_at < %(stop)s AND {_NOT_QUEUED}"
        _run(
            _USAGE_INSERT.format(facts=facts.usage_facts_sql(where=where)),
            {"start": start, "stop": stop},
        )


def _entry_days_rebuild(days: Iterable[date]) -> None:
    for day in sorted(set(days)):
        start, stop = _day_bounds(day)
        _run("DELETE FROM reports_entryrollup WHERE eff_day = %(day)s", {"day": day})
        where = "e.effective_at >= %(start)s AND e.effective_at < %(stop)s"
        _run(
            _ENTRY_INSERT.format(facts=facts.entry_facts_sql(where=where)),
            {"start": start, "stop": stop},
        )


def _units_refresh(unit_ids: list[int]) -> set[date]:
    """Rewrite the facts of ``unit_ids``; returns the triggered days to re-roll."""
    if not unit_ids:
        return set()
    days = {
        row[0]
        for row in _fetch(
            "SELECT DISTINCT trig_day FROM reports_unitfact WHERE unit_id = ANY(%(ids)s)",
            {"ids": unit_ids},
        )
    }
    _run("DELETE FROM reports_unitfact WHERE unit_id = ANY(%(ids)s)", {"ids": unit_ids})
    _run(
        _UNIT_FACT_INSERT.format(facts=facts.unit_facts_sql(where="w.id = ANY(%(ids)s)")),
        {"ids": unit_ids},
    )
    days |= {
        row[0]
        for row in _fetch(
            "SELECT DISTINCT trig_day FROM reports_unitfact WHERE unit_id = ANY(%(ids)s)",
            {"ids": unit_ids},
        )
    }
    return days


def _unit_days_rebuild(days: Iterable[date]) -> None:
    wanted = sorted(set(days))
    if not wanted:
        return
    _run("DELETE FROM reports_unitrollup WHERE trig_day = ANY(%(days)s)", {"days": wanted})
    _run(_UNIT_ROLLUP_INSERT.format(where="trig_day = ANY(%(days)s)"), {"days": wanted})


_USAGE_MONTH_INSERT = """
INSERT INTO reports_usagemonthrollup (month, team_id, provider, model, source_id, tied,
    records, unpriced, cost_usd, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens, people)
SELECT date_trunc('month', day)::date AS month, team_id, provider, model, source_id, tied,
    sum(records), sum(unpriced), sum(cost_usd), sum(input_tokens), sum(output_tokens),
    sum(cache_creation_input_tokens), sum(cache_read_input_tokens),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{}}')
FROM reports_usagerollup
WHERE {where}
GROUP BY 1, team_id, provider, model, source_id, tied
"""

_UNIT_MONTH_INSERT = """
INSERT INTO reports_unitmonthrollup (trig_month, comp_month, team_id, definition_id, domain,
    state, ai_assisted, unit_count, units_sum, people)
SELECT date_trunc('month', trig_day)::date, date_trunc('month', comp_day)::date, team_id,
    definition_id, domain, state, ai_assisted, sum(unit_count), sum(units_sum),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{}}')
FROM reports_unitrollup
WHERE {where}
GROUP BY 1, 2, team_id, definition_id, domain, state, ai_assisted
"""

_ENTRY_MONTH_INSERT = """
INSERT INTO reports_entrymonthrollup (eff_month, trig_month, team_id, definition_id, domain,
    ai_assisted, entry_count, delta_sum, people)
SELECT date_trunc('month', eff_day)::date, date_trunc('month', trig_day)::date, team_id,
    definition_id, domain, ai_assisted, sum(entry_count), sum(delta_sum),
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{{}}')
FROM reports_entryrollup
WHERE {where}
GROUP BY 1, 2, team_id, definition_id, domain, ai_assisted
"""

# (monthly table, its month column, daily table, its day column, insert)
_MONTHLY = {
    "usage": ("reports_usagemonthrollup", "month", "day", _USAGE_MONTH_INSERT),
    "units": ("reports_unitmonthrollup", "trig_month", "trig_day", _UNIT_MONTH_INSERT),
    "entries": ("reports_entrymonthrollup", "eff_month", "eff_day", _ENTRY_MONTH_INSERT),
}


def _months(days: Iterable[date]) -> list[date]:
    return sorted({d.replace(day=1) for d in days})


def _months_rebuild(side: str, days: Iterable[date]) -> None:
    """Re-derive the monthly rollup of ``side`` for the months of ``days`` from
    the daily rollup (which must already be up to date for those days)."""
    months = _months(days)
    if not months:
        return
    table, month_column, day_column, insert = _MONTHLY[side]
    _run(f"DELETE FROM {table} WHERE {month_column} = ANY(%(months)s)", {"months": months})  # noqa: S608 - constant names
    # The range lets the day index narrow the scan; the month list is exact.
    where = (
        f"{day_column} >= %(first)s AND {day_column} < %(after)s"
        f" AND date_trunc('month', {day_column})::date = ANY(%(months)s)"
    )
    after = (months[-1].replace(day=28) + timedelta(days=4)).replace(day=1)
    _run(insert.format(where=where), {"months": months, "first": months[0], "after": after})


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


_USAGE_DAY_MERGE = _usage_merge_sql("reports_usagerollup", ["day", "person_id", *_USAGE_KEYS])
_USAGE_MONTH_MERGE = _usage_merge_sql(
    "reports_usagemonthrollup", ["month", *_USAGE_KEYS], people=True
)

_USAGE_ADDED = """
INSERT INTO reports_usageadded
SELECT day, person_id, team_id, provider, model, source_id, tied,
    count(*) AS records, count(*) FILTER (WHERE unpriced) AS unpriced, sum(cost) AS cost_usd,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
    sum(cache_read_input_tokens) AS cache_read_input_tokens
FROM ({facts}) f
GROUP BY day, person_id, team_id, provider, model, source_id, tied
"""

_USAGE_ADDED_BY_MONTH = """
SELECT date_trunc('month', day)::date AS month, team_id, provider, model, source_id, tied,
    sum(records) AS records, sum(unpriced) AS unpriced, sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
    sum(cache_read_input_tokens) AS cache_read_input_tokens,
    COALESCE(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{}') AS people
FROM reports_usageadded
WHERE NOT (date_trunc('month', day)::date = ANY(%(rebuilt)s::date[]))
GROUP BY 1, team_id, provider, model, source_id, tied
"""


def _usage_queue_take() -> int:
    """Move the queued usage ids into the work table ``reports_usagetaken``; returns
    how many.

    The taken records are committed (a queue row commits with its record), and
    from here on no recompute leaves them out: each is folded in by its day's
    recompute or by :func:`_usage_add`, in this transaction. The work tables are
    the rollup lock holder's alone (migration 0003), cleared here first.
    """
    _run("DELETE FROM reports_usagetaken")
    _run("DELETE FROM reports_usageadded")
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH taken AS (DELETE FROM reports_usagequeue RETURNING usage_id)"
            " INSERT INTO reports_usagetaken SELECT usage_id FROM taken"
        )
        return cursor.rowcount


def _usage_add(recomputed: set[date]) -> int:
    """Add the facts of the taken records outside the ``recomputed`` days to their
    daily and monthly rollup rows; returns how many records that was."""
    where = (
        # An array, so the plan reads the records by primary key whatever the
        # work table's statistics say.
        "u.id = ANY(ARRAY(SELECT usage_id FROM reports_usagetaken))"
        " AND NOT ((u.occurred_at AT TIME ZONE 'UTC')::date = ANY(%(recomputed)s::date[]))"
    )
    params = {"recomputed": sorted(recomputed)}
    _run(_USAGE_ADDED.format(facts=facts.usage_facts_sql(where=where)), params)
    added = int(_fetch("SELECT COALESCE(sum(records), 0) FROM reports_usageadded")[0][0])
    if not added:
        return 0
    _run(_USAGE_DAY_MERGE.format(source="SELECT * FROM reports_usageadded"))
    # Months with a recomputed day are re-derived from the daily rows (which now
    # include these sums); the others take the sums.
    _run(
        _USAGE_MONTH_MERGE.format(source=_USAGE_ADDED_BY_MONTH),
        {"rebuilt": _months(recomputed)},
    )
    return added


# --- Taking the queues ----------------------------------------------------------------

QUEUES = (
    "reports_usagequeue", "reports_entryqueue", "reports_eventqueue", "reports_adjustmentqueue",
    "reports_unitqueue", "reports_identityqueue", "reports_membershipqueue",
)  # fmt: skip

# Each statement deletes a queue's rows and answers the days they touch. The keys go
# in as an array so the plan reads the rows by index whatever the queue's statistics.
_TAKE_ENTRY_DAYS = """
WITH taken AS (DELETE FROM reports_entryqueue RETURNING entry_id)
SELECT DISTINCT (e.effective_at AT TIME ZONE 'UTC')::date FROM scoring_awuentry e
WHERE e.id = ANY(ARRAY(SELECT entry_id FROM taken))
"""
_TAKE_USAGE_DAYS = {
    # A session's commit ties the session's usage to work.
    "events": """
        WITH taken AS (DELETE FROM reports_eventqueue RETURNING event_id)
        SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_workevent e JOIN ledger_tokenusage u
          ON u.ref_keys && ARRAY(SELECT k FROM unnest(e.ref_keys) k WHERE k LIKE 'session:%%')::varchar[]
        WHERE e.id = ANY(ARRAY(SELECT event_id FROM taken))
    """,
    "adjustments": """
        WITH taken AS (DELETE FROM reports_adjustmentqueue RETURNING adjustment_id)
        SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_costadjustment a
        JOIN ledger_tokenusage u ON u.id = a.usage_id
        WHERE a.id = ANY(ARRAY(SELECT adjustment_id FROM taken))
    """,
    # An identity written or deleted changes who its actor's usage belongs to.
    "identities": """
        WITH taken AS (DELETE FROM reports_identityqueue RETURNING value)
        SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_tokenusage u
        WHERE u.actor = ANY(ARRAY(SELECT value FROM taken))
    """,
    # A membership changes the team of its person's usage (every actor of theirs).
    "memberships": """
        WITH taken AS (DELETE FROM reports_membershipqueue RETURNING person_id)
        SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_tokenusage u
        WHERE u.actor = ANY(ARRAY(
            SELECT i.value FROM ledger_identity i
            WHERE i.person_id = ANY(ARRAY(SELECT person_id FROM taken))
        ))
    """,
}  # fmt: skip
_TAKE_UNITS = (
    "WITH taken AS (DELETE FROM reports_unitqueue RETURNING unit_id)"
    " SELECT DISTINCT unit_id FROM taken"
)

# A unit's tie state and entries: the days of the usage its refs (or its sessions'
# commits) reach, and its entries' effective days.
_UNIT_USAGE_DAYS = """
WITH keys AS (
    SELECT DISTINCT k FROM scoring_workunit w, unnest(w.ref_keys) k WHERE w.id = ANY(%(ids)s)
), sessions AS (
    SELECT DISTINCT s FROM ledger_workevent e, unnest(e.ref_keys) s
    WHERE e.type = 'x.session.commit'
      AND e.ref_keys && ARRAY(SELECT k FROM keys)::varchar[]
      AND s LIKE 'session:%%'
)
SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_tokenusage u
WHERE u.ref_keys && ARRAY(SELECT k FROM keys UNION SELECT s FROM sessions)::varchar[]
"""
_UNIT_ENTRY_DAYS = """
SELECT DISTINCT (effective_at AT TIME ZONE 'UTC')::date FROM scoring_awuentry
WHERE unit_id = ANY(%(ids)s)
"""

# A log-derived record stops the metrics-derived records of its session counting
# (the same spend, reported twice): their days are recomputed.
_DISPLACED_USAGE_DAYS = """
WITH fresh AS (
    SELECT * FROM ledger_tokenusage WHERE id = ANY(ARRAY(SELECT usage_id FROM reports_usagetaken))
)
SELECT DISTINCT (m.occurred_at AT TIME ZONE 'UTC')::date
FROM fresh f JOIN ledger_tokenusage m ON m.source_id = f.source_id
WHERE f.attributes->>'derived_from' = 'logs'
  AND m.attributes->>'derived_from' = 'metrics'
  AND (m.ref_keys && ARRAY(SELECT k FROM unnest(f.ref_keys) k WHERE k LIKE 'session:%%')::varchar[]
       OR NOT EXISTS (SELECT 1 FROM unnest(m.ref_keys) k WHERE k LIKE 'session:%%'))
"""


@dataclass
class Taken:
    """What one refresh took from the queues, as the days to recompute."""

    usage: int  # new usage records, now in reports_usagetaken
    units: list[int]
    usage_days: set[date]
    entry_days: set[date]


def _days(sql: str, params: dict[str, Any] | None = None) -> set[date]:
    return {row[0] for row in _fetch(sql, params)}


def _take() -> Taken:
    """Empty every queue, in the refresh's transaction; rows committed after a
    queue's statement stay for the next refresh."""
    usage = _usage_queue_take()
    units = [int(row[0]) for row in _fetch(_TAKE_UNITS)]
    usage_days = set().union(*(_days(sql) for sql in _TAKE_USAGE_DAYS.values()))
    entry_days = _days(_TAKE_ENTRY_DAYS)
    if usage:
        usage_days |= _days(_DISPLACED_USAGE_DAYS)
    if units:
        usage_days |= _days(_UNIT_USAGE_DAYS, {"ids": units})
        entry_days |= _days(_UNIT_ENTRY_DAYS, {"ids": units})
    return Taken(usage=usage, units=units, usage_days=usage_days, entry_days=entry_days)


# --- The job ----------------------------------------------------------------------------


def _full_rebuild() -> None:
    _run(
        "TRUNCATE reports_usagerollup, reports_entryrollup, reports_unitrollup, reports_unitfact,"
        " reports_usagemonthrollup, reports_entrymonthrollup, reports_unitmonthrollup"
    )
    # Whatever is queued by now is in the raw tables the rebuild reads. Usage queued
    # later is left out of it and added by the next refresh; any other change queued
    # later is recomputed by the next refresh.
    for queue in QUEUES:
        _run(f"DELETE FROM {queue}")  # noqa: S608 - constant names
    _run(_USAGE_INSERT.format(facts=facts.usage_facts_sql(where=_NOT_QUEUED)))
    _run(_ENTRY_INSERT.format(facts=facts.entry_facts_sql()))
    _run(_UNIT_FACT_INSERT.format(facts=facts.unit_facts_sql()))
    _run(_UNIT_ROLLUP_INSERT.format(where="TRUE"))
    for _, _, _, insert in _MONTHLY.values():
        _run(insert.format(where="TRUE"))


def rollups_refresh(*, full: bool = False, wait: bool = True) -> RefreshStats:
    """Bring the rollups up to date with everything committed so far.

    Idempotent and safe to run from any number of processes (they take turns on
    an advisory lock). ``full`` (or a first run) rebuilds every rollup from the
    raw tables. With ``wait=False`` a refresh already running elsewhere is not
    waited for: this one is skipped (``stats.skipped``). Returns what was
    recomputed.
    """
    stats = RefreshStats()
    with transaction.atomic():
        if wait:
            _run("SELECT pg_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})
        elif not _fetch("SELECT pg_try_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})[0][0]:
            stats.skipped = True
            return stats
        if full or not _fetch("SELECT EXISTS (SELECT 1 FROM reports_rolluprefresh)")[0][0]:
            _full_rebuild()
            stats.full = True
        else:
            taken = _take()
            stats.units = len(taken.units)
            stats.unit_days = _units_refresh(taken.units)
            stats.entry_days = taken.entry_days
            stats.usage_days = taken.usage_days
            _unit_days_rebuild(stats.unit_days)
            _entry_days_rebuild(stats.entry_days)
            _usage_days_rebuild(stats.usage_days)
            stats.usage_added = _usage_add(stats.usage_days) if taken.usage else 0
            _months_rebuild("units", stats.unit_days)
            _months_rebuild("entries", stats.entry_days)
            _months_rebuild("usage", stats.usage_days)
        _run(
            "INSERT INTO reports_rolluprefresh (id, refreshed_at) VALUES (1, now())"
            " ON CONFLICT (id) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at"
        )
    return stats


def rollups_forget_actors(*, actors: Iterable[str]) -> None:
    """Drop ``actors`` from the queue of identity changes: for an erasure, which
    leaves no record naming them, so their identities change no rollup."""
    _run(
        "DELETE FROM reports_identityqueue WHERE value = ANY(%(actors)s)",
        {"actors": sorted(set(actors))},
    )


def rollups_behind(*, max_age_seconds: float | None = None) -> bool:
    """True when a change is queued for the rollups, or the last refresh is older
    than the allowed lag (``AWU_REPORTS_MAX_LAG_SECONDS``)."""
    return _probe(max_age_seconds)[0]


_QUEUED = " OR ".join(f"EXISTS (SELECT 1 FROM {queue})" for queue in QUEUES)  # noqa: S608


def _probe(max_age_seconds: float | None = None) -> tuple[bool, bool]:
    """(whether the rollups are behind, whether this session may write): one query."""
    age = settings.AWU_REPORTS_MAX_LAG_SECONDS if max_age_seconds is None else max_age_seconds
    # A read-only session (a hot standby is one) never refreshes.
    behind, writable = _fetch(
        f"SELECT {_QUEUED} OR COALESCE((SELECT now() - max(refreshed_at)"  # noqa: S608 - constant SQL
        " > make_interval(secs => %(age)s) FROM reports_rolluprefresh), TRUE),"
        " current_setting('transaction_read_only') = 'off'",
        {"age": age},
    )[0]
    return bool(behind), bool(writable)


def rollups_ensure_fresh() -> None:
    """Refresh first when behind (what a report calls before reading rollups).

    A report never queues behind a refresh that is already running (under a
    steady stream of reports and writes they would pile up, each waiting for the
    one before): it reads the rollups as they stand, at most that one refresh
    behind. With no refresh running it refreshes first, so a client that wrote
    and then asks, alone, always reads its own writes. On a read replica (or any
    read-only session) it never refreshes: the rollups arrive by replication,
    refreshed on the primary by beat.
    """
    behind, writable = _probe()
    if behind and writable:
        rollups_refresh(wait=False)
