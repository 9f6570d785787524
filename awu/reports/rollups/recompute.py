"""Recomputing rollup days from the raw tables, and adding new usage's sums.

The monthly rollups (no person, a people set per row; and by person) and the
weekly ones (no person) are re-derived from the daily ones for each month and
week with a recomputed day, in the same transaction, and take the same added
sums otherwise: they are exactly as fresh as the daily ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from awu.reports import facts
from awu.reports.rollups import sql
from awu.reports.rollups.sql import fetch, run


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def usage_days_rebuild(days: Iterable[date]) -> None:
    for day in sorted(set(days)):
        start, stop = _day_bounds(day)
        run("DELETE FROM reports_usagerollup WHERE day = %(day)s", {"day": day})
        where = f"u.occurred_at >= %(start)s AND u.occurred_at < %(stop)s AND {sql.NOT_QUEUED}"
        run(
            sql.USAGE_INSERT.format(facts=facts.usage_facts_sql(where=where)),
            {"start": start, "stop": stop},
        )


def entry_days_rebuild(days: Iterable[date]) -> None:
    for day in sorted(set(days)):
        start, stop = _day_bounds(day)
        run("DELETE FROM reports_entryrollup WHERE eff_day = %(day)s", {"day": day})
        where = "e.effective_at >= %(start)s AND e.effective_at < %(stop)s"
        run(
            sql.ENTRY_INSERT.format(facts=facts.entry_facts_sql(where=where)),
            {"start": start, "stop": stop},
        )


def unit_facts_rewrite(unit_ids: list[int]) -> set[date]:
    """Rewrite the facts of ``unit_ids``; returns the triggered days to re-roll."""
    if not unit_ids:
        return set()
    days = {
        row[0]
        for row in fetch(
            "SELECT DISTINCT trig_day FROM reports_unitfact WHERE unit_id = ANY(%(ids)s)",
            {"ids": unit_ids},
        )
    }
    run("DELETE FROM reports_unitfact WHERE unit_id = ANY(%(ids)s)", {"ids": unit_ids})
    run(
        sql.UNIT_FACT_INSERT.format(facts=facts.unit_facts_sql(where="w.id = ANY(%(ids)s)")),
        {"ids": unit_ids},
    )
    days |= {
        row[0]
        for row in fetch(
            "SELECT DISTINCT trig_day FROM reports_unitfact WHERE unit_id = ANY(%(ids)s)",
            {"ids": unit_ids},
        )
    }
    return days


def unit_days_rebuild(days: Iterable[date]) -> None:
    wanted = sorted(set(days))
    if not wanted:
        return
    run("DELETE FROM reports_unitrollup WHERE trig_day = ANY(%(days)s)", {"days": wanted})
    run(sql.UNIT_ROLLUP_INSERT.format(where="trig_day = ANY(%(days)s)"), {"days": wanted})


def months_of(days: Iterable[date]) -> list[date]:
    return sorted({d.replace(day=1) for d in days})


def weeks_of(days: Iterable[date]) -> list[date]:
    """The Mondays of the ISO weeks of ``days`` (as ``date_trunc('week', ...)``)."""
    return sorted({d - timedelta(days=d.weekday()) for d in days})


def _period_after(grain: str, first: date) -> date:
    """The start of the period after the ``grain`` period starting at ``first``."""
    if grain == "week":
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


PERIODS_OF = {"month": months_of, "week": weeks_of}


def periods_rebuild(side: str, days: Iterable[date]) -> None:
    """Re-derive the monthly and weekly rollups of ``side`` for the months and weeks
    of ``days`` from the daily rollup (which must already be up to date for those
    days)."""
    days = list(days)
    for grain, rollups in sql.PERIODS.items():
        periods = PERIODS_OF[grain](days)
        if not periods:
            continue
        for table, period_column, day_column, insert in rollups[side]:
            run(
                f"DELETE FROM {table} WHERE {period_column} = ANY(%(periods)s)",  # noqa: S608 - constant names
                {"periods": periods},
            )
            # The range lets the day index narrow the scan; the period list is exact.
            where = (
                f"{day_column} >= %(first)s AND {day_column} < %(after)s"
                f" AND date_trunc('{grain}', {day_column})::date = ANY(%(periods)s)"
            )
            run(
                insert.format(where=where),
                {
                    "periods": periods,
                    "first": periods[0],
                    "after": _period_after(grain, periods[-1]),
                },
            )


def usage_add(recomputed: set[date]) -> int:
    """Add the facts of the taken records outside the ``recomputed`` days to their
    daily and monthly rollup rows; returns how many records that was."""
    where = (
        # An array, so the plan reads the records by primary key whatever the
        # work table's statistics say.
        "u.id = ANY(ARRAY(SELECT usage_id FROM reports_usagetaken))"
        " AND NOT ((u.occurred_at AT TIME ZONE 'UTC')::date = ANY(%(recomputed)s::date[]))"
    )
    params = {"recomputed": sorted(recomputed)}
    run(sql.USAGE_ADDED.format(facts=facts.usage_facts_sql(where=where)), params)
    added = int(fetch("SELECT COALESCE(sum(records), 0) FROM reports_usageadded")[0][0])
    if not added:
        return 0
    run(sql.USAGE_DAY_MERGE.format(source="SELECT * FROM reports_usageadded"))
    # Months and weeks with a recomputed day are re-derived from the daily rows
    # (which now include these sums); the others take the sums.
    rebuilt = {"rebuilt": months_of(recomputed)}
    run(sql.USAGE_MONTH_MERGE.format(source=sql.USAGE_ADDED_BY_MONTH), rebuilt)
    run(sql.USAGE_PERSON_MONTH_MERGE.format(source=sql.USAGE_ADDED_BY_PERSON_MONTH), rebuilt)
    run(sql.USAGE_PEOPLE_MERGE, rebuilt)
    run(
        sql.USAGE_WEEK_MERGE.format(source=sql.USAGE_ADDED_BY_WEEK),
        {"rebuilt": weeks_of(recomputed)},
    )
    return added


def everything_rebuild() -> None:
    """Every rollup from the raw tables, leaving out the usage still queued."""
    run("TRUNCATE " + ", ".join(sql.ROLLUP_TABLES))
    run(sql.USAGE_INSERT.format(facts=facts.usage_facts_sql(where=sql.NOT_QUEUED)))
    run(sql.ENTRY_INSERT.format(facts=facts.entry_facts_sql()))
    run(sql.UNIT_FACT_INSERT.format(facts=facts.unit_facts_sql()))
    run(sql.UNIT_ROLLUP_INSERT.format(where="TRUE"))
    for rollups in sql.PERIODS.values():
        for tables in rollups.values():
            for _, _, _, insert in tables:
                run(insert.format(where="TRUE"))
