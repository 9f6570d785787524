"""Keeping the report rollups in step with the ledger and the scoring state.

``rollups_refresh`` is the incremental job (Celery beat runs it; reports run it
first when the rollups are behind). It finds what changed since its last run,
works out which UTC days that touches, and recomputes those days whole from the
raw tables, except where new token usage is all that changed: then the new
records' sums are added to the rows of their day and month.

* New token usage comes through ``reports_usagequeue``, written by a trigger in
  the same transaction as the records (migration 0003). The refresh deletes the
  queue rows it takes; a day recomputed meanwhile leaves out every record whose
  queue row is still there. So each record is folded in exactly once: by the
  recompute of its day, or by the sums added for the records taken.
* The other append-only tables (AWU entries, events, cost adjustments) are
  read by id; recomputing a day is idempotent, so seeing a row twice is
  harmless and the care goes into never missing one. Ids are allocated before
  commit, so a row with a small id can become visible after rows with larger
  ids: "id > last id seen" would skip it. Each run therefore remembers the
  sequence's last value and its snapshot's xmax as a *candidate*; the next run
  promotes the candidate to ``safe_id`` only once ``pg_snapshot_xmin`` of its
  own snapshot has passed that xmax, i.e. once every transaction that could
  hold one of those ids has ended. Rows with ``id > safe_id`` are read again on
  every run until then (a short, indexed range).
* Work units are updated in place, so they are found by the transaction that
  last wrote them: the row's ``xmin``, widened to 64 bits against the current
  snapshot, compared with the snapshot xmin of the previous scan. Any
  transaction that had not committed by then has an xid at or above it, so its
  rows are seen on a later run. (A sequential scan of the units table; units
  are tens of millions a year at most, not billions.)

The monthly rollups (no person; a people set per row) are re-derived from the
daily ones, in the same transaction, for each month with a recomputed day, and
take the same added sums otherwise, so they are exactly as fresh as the daily
rollups and need no cursor of their own.

What a change touches: a usage record its day's sums (and, for a log-derived
record, the days of the metrics-derived records of the same session, which stop
counting as spend: recomputed); an entry its effective day; a unit its
triggered day, its entries' days, and the days of the usage its refs reach
(their tie state may change); a new ``x.session.commit`` event the days of its
session's usage; an adjustment the day of its usage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from awu.reports import facts
from ledger.models import Identity

# pg_advisory_xact_lock key: one refresh at a time.
LOCK_KEY = 0x4157_5552  # "AWUR"
APPEND_ONLY = {
    "entries": "scoring_awuentry",
    "events": "ledger_workevent",
    "adjustments": "ledger_costadjustment",
}
UNITS = "units"
_XID_WRAP = 4294967296
_XID_MARGIN = 1 << 30


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


# --- Finding what changed ------------------------------------------------------------


def _days_of_usage_reached_by_units(unit_ids: list[int]) -> set[date]:
    """Days of the usage whose refs (or sessions' commits) reach these units."""
    if not unit_ids:
        return set()
    rows = _fetch(
        """
        WITH keys AS (
            SELECT DISTINCT k FROM scoring_workunit w, unnest(w.ref_keys) k
            WHERE w.id = ANY(%(ids)s)
        ), sessions AS (
            SELECT DISTINCT s FROM ledger_workevent e, unnest(e.ref_keys) s
            WHERE e.type = 'x.session.commit'
              AND e.ref_keys && ARRAY(SELECT k FROM keys)::varchar[]
              AND s LIKE 'session:%%'
        )
        SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_tokenusage u
        WHERE u.ref_keys && ARRAY(SELECT k FROM keys UNION SELECT s FROM sessions)::varchar[]
        """,
        {"ids": unit_ids},
    )
    return {row[0] for row in rows}


def _displaced_usage_days() -> set[date]:
    """Days of the metrics-derived records that the taken log-derived records stop
    counting (the same session's spend, reported twice)."""
    rows = _fetch(
        """
        WITH fresh AS (
            SELECT * FROM ledger_tokenusage
            WHERE id = ANY(ARRAY(SELECT usage_id FROM reports_usagetaken))
        )
        SELECT DISTINCT (m.occurred_at AT TIME ZONE 'UTC')::date
        FROM fresh f JOIN ledger_tokenusage m ON m.source_id = f.source_id
        WHERE f.attributes->>'derived_from' = 'logs'
          AND m.attributes->>'derived_from' = 'metrics'
          AND (m.ref_keys && ARRAY(SELECT k FROM unnest(f.ref_keys) k WHERE k LIKE 'session:%%')::varchar[]
               OR NOT EXISTS (SELECT 1 FROM unnest(m.ref_keys) k WHERE k LIKE 'session:%%'))
        """
    )
    return {row[0] for row in rows}


def _new_event_usage_days(after: int) -> set[date]:
    rows = _fetch(
        """
        SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date
        FROM ledger_workevent e JOIN ledger_tokenusage u
          ON u.ref_keys && ARRAY(SELECT k FROM unnest(e.ref_keys) k WHERE k LIKE 'session:%%')::varchar[]
        WHERE e.id > %(after)s AND e.type = 'x.session.commit'
        """,
        {"after": after},
    )
    return {row[0] for row in rows}


def _new_adjustment_days(after: int) -> set[date]:
    rows = _fetch(
        """
        SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date
        FROM ledger_costadjustment a JOIN ledger_tokenusage u ON u.id = a.usage_id
        WHERE a.id > %(after)s
        """,
        {"after": after},
    )
    return {row[0] for row in rows}


def _new_entry_days(after: int) -> set[date]:
    rows = _fetch(
        "SELECT DISTINCT (effective_at AT TIME ZONE 'UTC')::date FROM scoring_awuentry WHERE id > %(after)s",
        {"after": after},
    )
    return {row[0] for row in rows}


def _changed(table: str, column: str, horizon: int, xmax: int) -> list[Any]:
    """``column`` of the rows of ``table`` written by transactions from ``horizon`` on."""
    # xmin is 32 bits; widen it against a 64-bit reference just above the
    # snapshot's xmax (rows of the caller's own open transaction can sit at or
    # above xmax). Rows are never 2^31 transactions old unfrozen, and a frozen
    # row only looks old.
    rows = _fetch(
        f"SELECT {column} FROM {table}"  # noqa: S608 - fixed names from this module
        " WHERE %(xmax)s - ((%(xmax)s %% %(wrap)s - xmin::text::bigint + %(wrap)s) %% %(wrap)s)"
        " >= %(horizon)s",
        {"xmax": xmax + _XID_MARGIN, "wrap": _XID_WRAP, "horizon": horizon},
    )
    return [row[0] for row in rows]


def _changed_units(horizon: int, xmax: int) -> list[int]:
    return [int(i) for i in _changed("scoring_workunit", "id", horizon, xmax)]


def _remapped_actors(horizon: int, xmax: int) -> set[str]:
    """Actor strings whose person or team may have changed since ``horizon``.

    An identity mapped (or re-pointed) later, or a membership added or edited,
    changes who past usage belongs to; its days are recomputed. (A deleted
    identity leaves no row to see: ``rollups_refresh(full=True)`` after bulk
    unmapping.)
    """
    actors = {str(v) for v in _changed("ledger_identity", "value", horizon, xmax)}
    people = set(_changed("ledger_membership", "person_id", horizon, xmax))
    if people:
        actors.update(Identity.objects.filter(person_id__in=people).values_list("value", flat=True))
    return actors


_SEQUENCES_SQL = ", ".join(
    f"(SELECT COALESCE(last_value, 0) FROM pg_sequences WHERE schemaname = current_schema()"  # noqa: S608 - constant names
    f" AND sequencename = '{table}_id_seq') AS {name}"
    for name, table in APPEND_ONLY.items()
)


def _sequence_values() -> dict[str, int]:
    row = _fetch("SELECT " + _SEQUENCES_SQL)[0]
    return {name: int(value or 0) for name, value in zip(APPEND_ONLY, row, strict=True)}


def _snapshot() -> tuple[int, int, bool]:
    """(xmin, xmax, whether no transaction was in progress) of the current snapshot."""
    row = _fetch(
        # The snapshot leaves out the caller's own transaction; when the refresh
        # runs inside a transaction that wrote (tests, a management shell), its
        # own rows must not fall below the horizon.
        "SELECT LEAST(pg_snapshot_xmin(s)::text::bigint,"
        " COALESCE(pg_current_xact_id_if_assigned()::text::bigint, pg_snapshot_xmin(s)::text::bigint)),"
        " pg_snapshot_xmax(s)::text::bigint,"
        " NOT EXISTS (SELECT pg_snapshot_xip(s))"
        " FROM pg_current_snapshot() s"
    )[0]
    return int(row[0]), int(row[1]), bool(row[2])


# --- The job ----------------------------------------------------------------------------


def _full_rebuild() -> None:
    _run(
        "TRUNCATE reports_usagerollup, reports_entryrollup, reports_unitrollup, reports_unitfact,"
        " reports_usagemonthrollup, reports_entrymonthrollup, reports_unitmonthrollup"
    )
    # Queued records committed by now are folded in by the rebuild; any queued
    # later are left out of it and added by the next refresh.
    _run("DELETE FROM reports_usagequeue")
    _run(_USAGE_INSERT.format(facts=facts.usage_facts_sql(where=_NOT_QUEUED)))
    _run(_ENTRY_INSERT.format(facts=facts.entry_facts_sql()))
    _run(_UNIT_FACT_INSERT.format(facts=facts.unit_facts_sql()))
    _run(_UNIT_ROLLUP_INSERT.format(where="TRUE"))
    for _, _, _, insert in _MONTHLY.values():
        _run(insert.format(where="TRUE"))


def _save_cursors(
    cursors: dict[str, tuple[int, int | None, int | None]],
    sequences: dict[str, int],
    xmin: int,
    xmax: int,
) -> None:
    for name in APPEND_ONLY:
        safe, cand_id, cand_xmax = cursors.get(name, (0, None, None))
        if cand_id is not None and cand_xmax is not None and xmin >= cand_xmax:
            safe = max(safe, cand_id)
        _run(
            """
            INSERT INTO reports_rollupcursor ("table", safe_id, candidate_id, candidate_xmax, refreshed_at)
            VALUES (%(t)s, %(safe)s, %(cid)s, %(cx)s, now())
            ON CONFLICT ("table") DO UPDATE SET safe_id = EXCLUDED.safe_id,
                candidate_id = EXCLUDED.candidate_id, candidate_xmax = EXCLUDED.candidate_xmax,
                refreshed_at = EXCLUDED.refreshed_at
            """,
            {"t": name, "safe": safe, "cid": sequences[name], "cx": xmax},
        )
    _run(
        """
        INSERT INTO reports_rollupcursor ("table", safe_id, candidate_id, candidate_xmax, refreshed_at)
        VALUES (%(t)s, 0, NULL, %(cx)s, now())
        ON CONFLICT ("table") DO UPDATE SET candidate_xmax = EXCLUDED.candidate_xmax,
            refreshed_at = EXCLUDED.refreshed_at
        """,
        {"t": UNITS, "cx": xmin},
    )


def _cursors() -> dict[str, tuple[int, int | None, int | None]]:
    rows = _fetch('SELECT "table", safe_id, candidate_id, candidate_xmax FROM reports_rollupcursor')
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


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
        cursors = _cursors()
        # The sequences are read before the snapshot is taken. A transaction
        # holding an id up to a value read then has an xid below the snapshot's
        # xmax (so the id range is promoted only after it ends), unless it sat
        # between allocating the id and writing its first row for the whole gap
        # between these two statements.
        sequences = _sequence_values()
        xmin, xmax, idle = _snapshot()
        if full or UNITS not in cursors:
            _full_rebuild()
            stats.full = True
            # Everything visible now is folded in; rows in flight are past the
            # sequence values taken above and come in through the candidates.
            # With none in flight at all, they are final already (the next run
            # need not read the whole history again).
            fresh: dict[str, tuple[int, int | None, int | None]] = {
                name: (sequences[name] if idle else 0, None, None) for name in APPEND_ONLY
            }
            _save_cursors(fresh, sequences, xmin, xmax)
            return stats
        safe = {name: cursors.get(name, (0, None, None))[0] for name in APPEND_ONLY}
        taken = _usage_queue_take()
        unit_ids = _changed_units(int(cursors[UNITS][2] or 0), xmax)
        stats.units = len(unit_ids)
        stats.unit_days = _units_refresh(unit_ids)
        stats.usage_days = (
            (_displaced_usage_days() if taken else set())
            | _new_event_usage_days(safe["events"])
            | _new_adjustment_days(safe["adjustments"])
            | _days_of_usage_reached_by_units(unit_ids)
            | _usage_days_of(_remapped_actors(int(cursors[UNITS][2] or 0), xmax))
        )
        stats.entry_days = _new_entry_days(safe["entries"])
        if unit_ids:
            stats.entry_days |= {
                row[0]
                for row in _fetch(
                    "SELECT DISTINCT (effective_at AT TIME ZONE 'UTC')::date FROM scoring_awuentry"
                    " WHERE unit_id = ANY(%(ids)s)",
                    {"ids": unit_ids},
                )
            }
        _unit_days_rebuild(stats.unit_days)
        _entry_days_rebuild(stats.entry_days)
        _usage_days_rebuild(stats.usage_days)
        stats.usage_added = _usage_add(stats.usage_days) if taken else 0
        _months_rebuild("units", stats.unit_days)
        _months_rebuild("entries", stats.entry_days)
        _months_rebuild("usage", stats.usage_days)
        _save_cursors(cursors, sequences, xmin, xmax)
    return stats


def rollups_behind(*, max_age_seconds: float | None = None) -> bool:
    """True when rows arrived since the last refresh, or it is older than the
    allowed lag (``AWU_REPORTS_MAX_LAG_SECONDS``, default 60: the bound on how
    late a unit's in-place state change can reach the rollups)."""
    return _probe(max_age_seconds)[0]


def _probe(max_age_seconds: float | None = None) -> tuple[bool, bool]:
    """(whether the rollups are behind, whether this session may write): two queries."""
    age = (
        max_age_seconds
        if max_age_seconds is not None
        else float(getattr(settings, "AWU_REPORTS_MAX_LAG_SECONDS", 60.0))
    )
    cursors = _cursors()
    # One round trip: the sequences, whether usage is queued, the last refresh's
    # age, and whether this is a read-only session (a hot standby is one).
    *values, queued, stale, writable = _fetch(
        f"SELECT {_SEQUENCES_SQL}, EXISTS (SELECT 1 FROM reports_usagequeue),"  # noqa: S608 - constant SQL
        " (SELECT now() - refreshed_at > make_interval(secs => %(age)s)"
        ' FROM reports_rollupcursor WHERE "table" = %(t)s),'
        " current_setting('transaction_read_only') = 'off'",
        {"age": age, "t": UNITS},
    )[0]
    if UNITS not in cursors or queued or stale:
        return True, bool(writable)
    sequences = dict(zip(APPEND_ONLY, values, strict=True))
    behind = any(
        (candidate := cursors.get(name, (0, None, None))[1]) is None
        or int(sequences[name] or 0) > candidate
        for name in APPEND_ONLY
    )
    return behind, bool(writable)


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


def _usage_days_of(actors: Iterable[str]) -> set[date]:
    wanted = sorted({a for a in actors if a})
    if not wanted:
        return set()
    rows = _fetch(
        "SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM ledger_tokenusage"
        " WHERE actor = ANY(%(actors)s)",
        {"actors": wanted},
    )
    return {row[0] for row in rows}


def rollups_rebuild_actors(*, actors: Iterable[str]) -> set[date]:
    """Recompute the usage days of ``actors`` now (the person and team of past
    usage change with an identity mapping or a membership). The periodic refresh
    finds such changes by itself; this is for callers that cannot wait for it.

    Work units keep the person and team resolved when they were scored; a
    rescore re-attributes them. Returns the days recomputed.
    """
    if not any(actors):
        return set()
    with transaction.atomic():
        _run("SELECT pg_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})
        days = _usage_days_of(actors)
        _usage_days_rebuild(days)
        _months_rebuild("usage", days)
    return days


def rollups_rebuild_person(*, person_id: int) -> set[date]:
    """``rollups_rebuild_actors`` for every identity of a person (after a membership change)."""
    actors = list(Identity.objects.filter(person_id=person_id).values_list("value", flat=True))
    return rollups_rebuild_actors(actors=actors)
