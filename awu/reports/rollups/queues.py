"""The change queues: what the rollups have not seen yet, as days to recompute.

Triggers append the keys of every row that changes a rollup to a queue of its
input, in the writer's transaction (migrations 0003 to 0005). A refresh takes
(deletes) every queue in its own transaction: a row committed after that stays
queued for the next one. Recomputing a day is idempotent, so a change seen twice
is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from awu.reports.rollups.sql import fetch, run
from ledger.spend import sessions_reaching_sql

QUEUES = (
    "reports_usagequeue", "reports_entryqueue", "reports_eventqueue", "reports_adjustmentqueue",
    "reports_unitqueue", "reports_identityqueue", "reports_membershipqueue",
    "reports_qualityqueue",
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
}  # fmt: skip
# A directory change takes its queue's keys as the actors it re-attributes: an
# identity value written or retracted; every identity value (ever) of a person whose
# memberships changed.
_TAKE_ACTORS = {
    "identities": "DELETE FROM reports_identityqueue RETURNING value",
    "memberships": """
        WITH taken AS (DELETE FROM reports_membershipqueue RETURNING person_id)
        SELECT DISTINCT i.value FROM ledger_identity i
        WHERE i.person_id = ANY(ARRAY(SELECT person_id FROM taken))
    """,
}
# Who usage belongs to, and who a unit (and its entries) belongs to, are resolved
# from the actor when read (awu.reports.facts): the actors' usage days and units
# are recomputed.
_ACTOR_USAGE_DAYS = """
SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_tokenusage u
WHERE u.actor = ANY(%(actors)s::varchar[])
"""
_ACTOR_UNITS = """
SELECT w.id FROM ledger_workevent e JOIN scoring_workunit w ON w.trigger_event_id = e.id
WHERE e.actor = ANY(%(actors)s::varchar[])
"""
# A review, bug or incident event changes the quality measures of the units its
# refs reach (awu.reports.quality), whichever arrived first.
_TAKE_MEASURED_UNITS = """
WITH taken AS (DELETE FROM reports_qualityqueue RETURNING event_id)
SELECT DISTINCT w.id FROM ledger_workevent e JOIN scoring_workunit w ON w.ref_keys && e.ref_keys
WHERE e.id = ANY(ARRAY(SELECT event_id FROM taken)) AND w.superseded_at IS NULL
"""
_TAKE_UNITS = (
    "WITH taken AS (DELETE FROM reports_unitqueue RETURNING unit_id)"
    " SELECT DISTINCT unit_id FROM taken"
)

# A unit's tie state and entries: the days of the usage its refs (or its sessions'
# commits) reach, and its entries' effective days.
_UNIT_USAGE_DAYS = """
WITH keys AS (
    SELECT DISTINCT k FROM scoring_workunit w, unnest(w.ref_keys) k WHERE w.id = ANY(%(ids)s)
), sessions AS ({sessions})
SELECT DISTINCT (u.occurred_at AT TIME ZONE 'UTC')::date FROM ledger_tokenusage u
WHERE u.ref_keys && ARRAY(SELECT k FROM keys UNION SELECT s FROM sessions)::varchar[]
""".replace("{sessions}", sessions_reaching_sql("ARRAY(SELECT k FROM keys)::varchar[]"))
_UNIT_ENTRY_DAYS = """
SELECT DISTINCT (effective_at AT TIME ZONE 'UTC')::date FROM scoring_awuentry
WHERE unit_id = ANY(%(ids)s)
"""

# A request record stops the summary records of its session counting (the same
# spend, reported twice; ledger.spend): their days are recomputed.
_DISPLACED_USAGE_DAYS = """
WITH fresh AS (
    SELECT * FROM ledger_tokenusage WHERE id = ANY(ARRAY(SELECT usage_id FROM reports_usagetaken))
)
SELECT DISTINCT (m.occurred_at AT TIME ZONE 'UTC')::date
FROM fresh f JOIN ledger_tokenusage m ON m.source_id = f.source_id
WHERE f.grain = 'request'
  AND m.grain = 'summary'
  AND (m.ref_keys && ARRAY(SELECT k FROM unnest(f.ref_keys) k WHERE k LIKE 'session:%%')::varchar[]
       OR NOT EXISTS (SELECT 1 FROM unnest(m.ref_keys) k WHERE k LIKE 'session:%%'))
"""


@dataclass
class Taken:
    """What one refresh took from the queues, as the days to recompute."""

    usage: int  # new usage records, now in reports_usagetaken
    units: list[int]  # changed units (facts, entry days and tied usage days)
    attributed: list[int]  # units of re-attributed actors (facts and entry days)
    measured: list[int]  # units whose quality measures changed (facts)
    usage_days: set[date]
    entry_days: set[date]


def _days(sql: str, params: dict[str, Any] | None = None) -> set[date]:
    return {row[0] for row in fetch(sql, params)}


def take() -> Taken:
    """Empty every queue, in the refresh's transaction; rows committed after a
    queue's statement stay for the next refresh."""
    usage = usage_take()
    units = [int(row[0]) for row in fetch(_TAKE_UNITS)]
    usage_days = set().union(*(_days(sql) for sql in _TAKE_USAGE_DAYS.values()))
    entry_days = _days(_TAKE_ENTRY_DAYS)
    actors = sorted({str(row[0]) for sql in _TAKE_ACTORS.values() for row in fetch(sql)})
    attributed: list[int] = []
    if actors:
        usage_days |= _days(_ACTOR_USAGE_DAYS, {"actors": actors})
        attributed = sorted({int(row[0]) for row in fetch(_ACTOR_UNITS, {"actors": actors})})
    if usage:
        usage_days |= _days(_DISPLACED_USAGE_DAYS)
    if units:
        usage_days |= _days(_UNIT_USAGE_DAYS, {"ids": units})
    if units or attributed:
        entry_days |= _days(_UNIT_ENTRY_DAYS, {"ids": sorted({*units, *attributed})})
    measured = [int(row[0]) for row in fetch(_TAKE_MEASURED_UNITS)]
    return Taken(
        usage=usage,
        units=units,
        attributed=attributed,
        measured=measured,
        usage_days=usage_days,
        entry_days=entry_days,
    )


def usage_take() -> int:
    """Move the queued usage ids into the work table ``reports_usagetaken``; returns
    how many.

    The taken records are committed (a queue row commits with its record), and
    from here on no recompute leaves them out: each is folded in by its day's
    recompute or by ``recompute.usage_add``, in this transaction. The work tables are
    the rollup lock holder's alone (migration 0003), cleared here first.
    """
    run("DELETE FROM reports_usagetaken")
    run("DELETE FROM reports_usageadded")
    return run(
        "WITH taken AS (DELETE FROM reports_usagequeue RETURNING usage_id)"
        " INSERT INTO reports_usagetaken SELECT usage_id FROM taken"
    )


def clear() -> None:
    """Empty every queue (a full rebuild reads everything they hold)."""
    for queue in QUEUES:
        run(f"DELETE FROM {queue}")  # noqa: S608 - constant names


def rollups_forget_actors(*, actors: Iterable[str]) -> None:
    """Drop ``actors`` from the queue of identity changes: for an erasure, which
    leaves no record naming them, so their identities change no rollup."""
    run(
        "DELETE FROM reports_identityqueue WHERE value = ANY(%(actors)s)",
        {"actors": sorted(set(actors))},
    )
