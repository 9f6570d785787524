"""Settling units: evaluate them at a moment and write rows and entries.

Every path that changes credit (an outbox pass, a window sweep, a rescore) goes
through :func:`settle_units`:

1. units first seen are evaluated before their row exists and inserted with their
   final values (INSERT ... ON CONFLICT DO NOTHING: a row another worker made
   meanwhile takes the locked path instead);
2. existing rows are locked, ordered by id, with SELECT ... FOR UPDATE, so a
   second worker on the same unit waits, then re-reads ``credited`` and computes
   a zero delta;
3. the linked events are loaded in batch and every unit is evaluated at ``now``;
4. changed rows are written back in one statement and an AwuEntry is appended
   for every change of credit (entries always sum to ``credited``).
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection

from awu.rules.engine import entry_delta, trigger_holds
from awu.rules.spec import UnitResult, UnitState
from awu.scoring.evidence import (
    Job,
    Pool,
    evaluate_jobs,
    events_by_id,
    from_micros_or_none,
    prefer_indexes,
    result_keys,
)
from awu.scoring.published import Catalog, LiveVersion

# (version id, trigger event id): the identity of a unit.
UnitKey = tuple[int, int]


_LOCK_UNITS = """
SELECT u.id, u.version_id, u.trigger_event_id, u.state, u.units, u.credited, u.reason,
       (extract(epoch FROM u.satisfied_at) * 1000000)::bigint,
       (extract(epoch FROM u.completed_at) * 1000000)::bigint,
       (extract(epoch FROM u.closes_at) * 1000000)::bigint,
       u.evidence, u.ref_keys, u.person_id, u.team_id, u.ai_assisted, u.ai_share,
       u.attributions, u.incident_keys
FROM scoring_workunit u
JOIN unnest(%s::bigint[], %s::bigint[]) AS t(version_id, trigger_event_id)
  ON u.version_id = t.version_id AND u.trigger_event_id = t.trigger_event_id
WHERE u.superseded_at IS NULL
ORDER BY u.id
FOR UPDATE OF u
"""

# The bulk writes take their rows as one JSON document (jsonb_to_recordset): the
# driver encodes it in one call, where binding a dozen arrays of a thousand values
# costs more than the statement itself.
_UPDATE_UNITS = """
UPDATE scoring_workunit AS u SET
    state = v.state, units = v.units, credited = v.credited, reason = v.reason,
    satisfied_at = v.satisfied_at, completed_at = v.completed_at, closes_at = v.closes_at,
    evidence = ARRAY(SELECT e::bigint FROM jsonb_array_elements_text(v.evidence)
                     WITH ORDINALITY AS x(e, n) ORDER BY n),
    ref_keys = ARRAY(SELECT jsonb_array_elements_text(v.ref_keys)),
    actor = v.actor, person_id = v.person_id, team_id = v.team_id, subject = v.subject,
    ai_assisted = v.ai_assisted, ai_share = v.ai_share, attributions = v.attributions,
    incident_keys = ARRAY(SELECT jsonb_array_elements_text(v.incident_keys)), updated_at = %s
FROM jsonb_to_recordset(%s::jsonb) AS v(
    id bigint, state text, units numeric, credited numeric, reason text,
    satisfied_at timestamptz, completed_at timestamptz, closes_at timestamptz, evidence jsonb,
    ref_keys jsonb, actor text, person_id bigint, team_id bigint, subject text,
    ai_assisted boolean, ai_share numeric, attributions jsonb, incident_keys jsonb)
WHERE u.id = v.id
"""
# A unit first seen in this pass is evaluated before its row exists and inserted
# with its final values; a row that appeared meanwhile (another worker) conflicts
# and goes through the locked path like any existing unit.
_INSERT_UNITS = """
INSERT INTO scoring_workunit (version_id, trigger_event_id, triggered_at, state, units,
    credited, reason, satisfied_at, completed_at, closes_at, evidence, ref_keys, actor,
    person_id, team_id, subject, ai_assisted, ai_share, attributions, incident_keys,
    created_at, updated_at)
SELECT t.version_id, t.trigger_event_id, t.triggered_at, t.state, t.units, t.credited,
       t.reason, t.satisfied_at, t.completed_at, t.closes_at,
       ARRAY(SELECT e::bigint FROM jsonb_array_elements_text(t.evidence)
             WITH ORDINALITY AS x(e, n) ORDER BY n),
       ARRAY(SELECT jsonb_array_elements_text(t.ref_keys)),
       t.actor, t.person_id, t.team_id, t.subject, t.ai_assisted, t.ai_share, t.attributions,
       ARRAY(SELECT jsonb_array_elements_text(t.incident_keys)), %s, %s
FROM jsonb_to_recordset(%s::jsonb) AS t(
    version_id bigint, trigger_event_id bigint, triggered_at timestamptz, state text,
    units numeric, credited numeric, reason text, satisfied_at timestamptz,
    completed_at timestamptz, closes_at timestamptz, evidence jsonb, ref_keys jsonb,
    actor text, person_id bigint, team_id bigint, subject text, ai_assisted boolean,
    ai_share numeric, attributions jsonb, incident_keys jsonb)
ORDER BY t.version_id, t.trigger_event_id
ON CONFLICT (version_id, trigger_event_id) DO NOTHING
RETURNING id, version_id, trigger_event_id
"""

_INSERT_ENTRIES = """
INSERT INTO scoring_awuentry (unit_id, version_id, definition_id, domain, delta, state, reason,
    created_at, effective_at, person_id, team_id)
SELECT unit_id, version_id, definition_id, domain, delta, state, reason, created_at,
       effective_at, person_id, team_id
FROM jsonb_to_recordset(%s::jsonb) AS v(
    unit_id bigint, version_id bigint, definition_id bigint, domain text, delta numeric,
    state text, reason text, created_at timestamptz, effective_at timestamptz,
    person_id bigint, team_id bigint)
"""


def _records_json(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a JSON array of objects for jsonb_to_recordset (Decimals as exact text)."""
    return orjson.dumps(rows, default=str).decode()


def _ai(result: UnitResult) -> tuple[bool | None, Decimal | None]:
    ai = result.ai or {}
    share = ai.get("share")
    share_value = (
        Decimal(repr(share)).quantize(Decimal("0.0001"))
        if isinstance(share, int | float) and not isinstance(share, bool) and 0 <= share <= 1
        else None
    )
    assisted = ai.get("assisted")
    if isinstance(assisted, bool):
        return assisted, share_value
    if share_value is not None:
        return share_value > 0, share_value
    return None, None


# The columns a unit's evaluation sets, in the order of _LOCK_UNITS (from ``state``),
# so a locked row and a result compare as tuples.
_EVALUATED = (
    "state", "units", "credited", "reason", "satisfied_at", "completed_at", "closes_at",
    "evidence", "ref_keys", "person_id", "team_id", "ai_assisted", "ai_share",
    "attributions", "incident_keys",
)  # fmt: skip


def attributions_json(result: UnitResult) -> list[dict[str, Any]]:
    """The unit's incident attributions as stored (and shown on its evidence)."""
    return [
        {
            "incident": a.incident,
            "event": a.event_id,
            "method": str(a.method),
            "at": a.occurred_at.isoformat().replace("+00:00", "Z"),
            "deploy": a.deploy_id,
            "shared": a.shared,
            "voids": a.voids,
        }
        for a in result.attributions
    ]


def _evaluated(result: UnitResult) -> tuple[Any, ...]:
    ai_assisted, ai_share = _ai(result)
    return (
        str(result.state),
        result.units,
        result.credit,
        result.reason,
        result.satisfied_at,
        result.completed_at,
        result.closes_at,
        list(result.evidence),
        sorted(result_keys(result)),
        result.person_id,
        result.team_id,
        ai_assisted,
        ai_share,
        attributions_json(result),
        sorted({a.incident for a in result.attributions}),
    )


def _stored(row: Sequence[Any]) -> tuple[Any, ...]:
    """A locked row's evaluated columns, normalised like :func:`_evaluated`."""
    values = list(row[3:18])
    values[4:7] = [from_micros_or_none(m) for m in values[4:7]]
    values[7] = list(values[7])
    values[8] = sorted(values[8] or ())
    stored = values[13]
    values[13] = orjson.loads(stored) if isinstance(stored, str | bytes) else (stored or [])
    values[14] = sorted(values[14] or ())
    return tuple(values)


@dataclass
class SettleStats:
    units: int = 0
    entries: int = 0
    changed: int = 0


@dataclass
class _Writes:
    """What one settling pass writes: unit rows and the entries for credit changes."""

    now: datetime
    pool: Pool
    stats: SettleStats
    updates: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def entry(
        self, unit_id: int, version: LiveVersion, credited: Decimal, result: UnitResult
    ) -> None:
        delta = entry_delta(credited, result)
        if delta is None:
            return
        self.entries.append(
            {
                "unit_id": unit_id,
                "version_id": version.id,
                "definition_id": version.definition_id,
                "domain": version.domain,
                "delta": delta,
                "state": str(result.state),
                "reason": result.reason,
                "created_at": self.now,
                "effective_at": _effective_at(result, delta, self.pool, self.now),
                "person_id": result.person_id,
                "team_id": result.team_id,
            }
        )

    def flush(self) -> None:
        with connection.cursor() as cursor:
            if self.updates:
                cursor.execute(_UPDATE_UNITS, [self.now, _records_json(self.updates)])
            if self.entries:
                cursor.execute(_INSERT_ENTRIES, [_records_json(self.entries)])
        self.stats.entries += len(self.entries)
        self.updates, self.entries = [], []


def _unit_record(result: UnitResult, values: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(_EVALUATED, values, strict=True))
    record.update(actor=result.actor, subject=result.subject)
    return record


def _insert_fresh(jobs: Sequence[tuple[LiveVersion, Job]], writes: _Writes) -> set[UnitKey]:
    """Insert the units first seen in this pass with their results; returns those inserted."""
    rows = []
    results = {}
    for version, job in jobs:
        if job.result is None:
            continue
        results[(version.id, job.trigger.id)] = (version, job.result)
        record = _unit_record(job.result, _evaluated(job.result))
        record.update(
            version_id=version.id,
            trigger_event_id=job.trigger.id,
            triggered_at=job.trigger.occurred_at,
        )
        rows.append(record)
    if not rows:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_UNITS, [writes.now, writes.now, _records_json(rows)])
        inserted = cursor.fetchall()
    for unit_id, version_id, trigger_id in inserted:
        version, result = results[(version_id, trigger_id)]
        writes.stats.units += 1
        writes.stats.changed += 1
        writes.entry(unit_id, version, Decimal(0), result)
    return {(v, t) for _, v, t in inserted}


def settle_units(
    targets: Collection[UnitKey],
    *,
    catalog: Catalog,
    now: datetime,
    pool: Pool,
    existing: Collection[UnitKey] = (),
) -> SettleStats:
    """Bring the units ``targets`` up to date at ``now``; must run in a transaction.

    Units of triggers whose condition does not hold are not created. ``existing``
    names targets known to have a row (their insert is skipped). Superseded
    units are left alone.
    """
    stats = SettleStats()
    targets = sorted({t for t in targets if t[0] in catalog.by_id})
    if not targets:
        return stats
    prefer_indexes()
    pool.add(events_by_id({t for _, t in targets} - pool.by_id.keys(), pool.names))
    writes = _Writes(now=now, pool=pool, stats=stats)

    known = set(existing)
    fresh: list[tuple[LiveVersion, Job]] = []
    for version_id, trigger_id in targets:
        trigger = pool.by_id.get(trigger_id)
        if trigger is None or (version_id, trigger_id) in known:
            continue
        version = catalog.by_id[version_id]
        if trigger_holds(version.compiled, trigger):
            fresh.append((version, Job(version.compiled, trigger, pool.keys[trigger_id])))
    evaluate_jobs([j for _, j in fresh], pool, now)
    inserted = _insert_fresh(fresh, writes)

    rest = [t for t in targets if t not in inserted]
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_UNITS, [[v for v, _ in rest], [t for _, t in rest]])
        locked = cursor.fetchall()
    jobs: list[tuple[tuple[Any, ...], Job]] = []
    for row in locked:
        trigger = pool.by_id[row[2]]
        keys = pool.keys[trigger.id] | set(row[11] or ())
        jobs.append((row, Job(catalog.by_id[row[1]].compiled, trigger, keys)))
    evaluate_jobs([j for _, j in jobs], pool, now)

    for row, job in jobs:
        result = job.result
        if result is None:
            continue  # cannot happen for an immutable version; keep the row as it is
        stats.units += 1
        values = _evaluated(result)
        if values != _stored(row):
            stats.changed += 1
            writes.updates.append({"id": row[0], **_unit_record(result, values)})
        writes.entry(row[0], catalog.by_id[row[1]], row[5], result)
    writes.flush()
    return stats


def _effective_at(result: UnitResult, delta: Decimal, pool: Pool, now: datetime) -> datetime:
    """The event time a credit change belongs to."""
    if delta > 0 and result.completed_at is not None:
        return result.completed_at
    if result.state is UnitState.VOIDED:
        disqualifier = pool.by_id.get(result.evidence[-1])
        if disqualifier is not None:
            return disqualifier.occurred_at
    return result.completed_at or now
