"""The scoring pipeline: the ORM glue around the pure engine (awu.scoring.engine).

:func:`score_pending` consumes the transactional outbox, :func:`sweep` settles
units whose windows time has closed, :func:`definition_rescore` replays history
into a new version. All three settle units the same way (:func:`_settle_units`):

1. make sure each unit row exists (INSERT ... ON CONFLICT DO NOTHING);
2. lock the rows, ordered by id, with SELECT ... FOR UPDATE, so a second worker
   on the same unit waits, then re-reads ``credited`` and computes a zero delta;
3. load the linked events in batch, evaluate every unit at ``now``;
4. write the rows back in one statement and append an AwuEntry for every change
   of credit (entries always sum to ``credited``).

Finding the units an event can change: the batch's own triggers, the live units
whose stored ``ref_keys`` overlap the event's, and the triggers reached by
walking the ledger's refs backwards (event -> carrying requirement -> trigger).
The walk reads committed events only, so it also finds a unit that another
worker is creating or extending right now, whose row this transaction cannot
see yet: without it a disqualifier arriving in that instant could be missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.db import OperationalError, connection, transaction
from django.db.models import Min, Q

from awu.definitions.models import BEGINNING_OF_TIME, Definition, DefinitionVersion
from awu.scoring.engine import (
    CompiledDefinition,
    compile_definition,
    entry_delta,
    evaluate_unit,
    trigger_holds,
)
from awu.scoring.model import Event, UnitResult, UnitState
from awu.scoring.models import WorkUnit
from ledger.identities import persons_for_actors
from ledger.models import Membership, Team

logger = logging.getLogger(__name__)

# (version id, trigger event id): the identity of a unit.
UnitKey = tuple[int, int]

_compiled: dict[int, CompiledDefinition] = {}
_compiled_lock = threading.Lock()


def _key(kind: str, value: str) -> str:
    # The same "kind:value" encoding as ledger WorkEvent.ref_keys.
    return f"{kind}:{value}"


def event_keys(event: Event) -> frozenset[str]:
    return frozenset(_key(kind, value) for kind, values in event.refs.items() for value in values)


# --- Published versions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveVersion:
    """A published version with its compiled rules (cached per process by id)."""

    id: int
    definition_id: int
    domain: str
    number: int
    covers_from: datetime
    published_at: datetime
    compiled: CompiledDefinition

    @property
    def trigger_type(self) -> str:
        return self.compiled.spec.trigger_type

    @property
    def types(self) -> frozenset[str]:
        return self.compiled.types


def _compile(version: DefinitionVersion) -> CompiledDefinition | None:
    # Published versions are immutable (the database refuses edits), so the
    # compiled form can be kept for the life of the process.
    with _compiled_lock:
        hit = _compiled.get(version.pk)
    if hit is not None:
        return hit
    try:
        compiled = compile_definition(version.spec())
    except ValueError:
        # Publishing checks every expression, so this is a bug, not user input:
        # say so loudly but keep scoring the other definitions.
        logger.exception("published version %s does not compile; it is skipped", version)
        return None
    with _compiled_lock:
        _compiled[version.pk] = compiled
    return compiled


class Catalog:
    """The published versions, and which one governs a trigger.

    For a trigger at ``t`` the governing version of a definition is the most
    recently published one whose ``covers_from <= t``.
    """

    def __init__(self, versions: Iterable[LiveVersion]) -> None:
        self.by_id: dict[int, LiveVersion] = {}
        by_definition: defaultdict[int, list[LiveVersion]] = defaultdict(list)
        for v in versions:
            self.by_id[v.id] = v
            by_definition[v.definition_id].append(v)
        self._by_definition = {
            d: sorted(vs, key=lambda v: (v.published_at, v.number), reverse=True)
            for d, vs in by_definition.items()
        }
        self.trigger_definitions: defaultdict[str, set[int]] = defaultdict(set)
        self.type_definitions: defaultdict[str, set[int]] = defaultdict(set)
        # definition -> requirement type -> ref kinds its requirements carry in
        self.carries: defaultdict[int, defaultdict[str, set[str]]] = defaultdict(
            lambda: defaultdict(set)
        )
        self.carry_depth = 0
        for v in self.by_id.values():
            spec = v.compiled.spec
            self.trigger_definitions[spec.trigger_type].add(v.definition_id)
            for t in v.types:
                self.type_definitions[t].add(v.definition_id)
            carrying = [c for c in spec.requires if c.carry]
            for clause in carrying:
                self.carries[v.definition_id][clause.type].update(clause.carry)
            self.carry_depth = max(self.carry_depth, len(carrying))
        self.trigger_types = frozenset(self.trigger_definitions)
        self.carrying_types = frozenset(t for c in self.carries.values() for t in c)

    def governing(self, definition_id: int, at: datetime) -> LiveVersion | None:
        for version in self._by_definition.get(definition_id, ()):
            if version.covers_from <= at:
                return version
        return None


def load_catalog() -> Catalog:
    """Every published version, compiled (one query; compiling only new versions)."""
    rows = DefinitionVersion.objects.filter(
        status=DefinitionVersion.Status.PUBLISHED
    ).select_related("definition")
    live = []
    for row in rows:
        compiled = _compile(row)
        if compiled is None:
            continue
        assert row.covers_from is not None
        assert row.published_at is not None
        live.append(
            LiveVersion(
                id=row.pk,
                definition_id=row.definition_id,
                domain=row.definition.domain,
                number=row.version,
                covers_from=row.covers_from,
                published_at=row.published_at,
                compiled=compiled,
            )
        )
    return Catalog(live)


# --- Ledger rows as engine events -------------------------------------------------

# Timestamps are read as integer microseconds since the epoch (exact) and turned
# into datetimes here: a pass reads tens of thousands of them, and the driver's
# text parser for timestamptz (used through Django's time-zone loader) costs
# several times more than the integer loader plus a timedelta.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else _at(micros)


_EVENT_SELECT = (
    "SELECT id, type, (extract(epoch FROM occurred_at) * 1000000)::bigint, actor, team, subject,"
    " refs, ai, attributes "
    "FROM ledger_workevent "
)


def _json(value: Any) -> Any:
    # Django loads jsonb as text on raw cursors (psycopg 3).
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class _Attribution:
    persons: dict[str, int]
    teams: dict[str, int]
    memberships: dict[int, list[tuple[datetime, datetime | None, int]]]

    def person_team(
        self, actor: str | None, team: str | None, at: datetime
    ) -> tuple[int | None, int | None]:
        person = self.persons.get(actor) if actor else None
        if team and team in self.teams:
            return person, self.teams[team]
        if person is None:
            return None, None
        # The latest membership started by ``at`` and not ended by then.
        for start, end, team_id in self.memberships.get(person, ()):
            if start <= at and (end is None or end > at):
                return person, team_id
        return person, None


def _attribution(rows: Sequence[tuple[Any, ...]]) -> _Attribution:
    """Identity, team and membership lookups for a batch of rows: three queries at most."""
    persons = persons_for_actors(r[3] for r in rows if r[3])
    slugs = {r[4] for r in rows if r[4]}
    teams = dict(Team.objects.filter(slug__in=slugs).values_list("slug", "id")) if slugs else {}
    memberships: defaultdict[int, list[tuple[datetime, datetime | None, int]]] = defaultdict(list)
    if persons:
        for person_id, team_id, start, end in (
            Membership.objects.filter(person_id__in=set(persons.values()))
            .order_by("person_id", "-valid_from")
            .values_list("person_id", "team_id", "valid_from", "valid_to")
        ):
            memberships[person_id].append((start, end, team_id))
    return _Attribution(persons, teams, dict(memberships))


def _events_from_rows(rows: Sequence[tuple[Any, ...]]) -> list[Event]:
    attribution = _attribution(rows)
    out = []
    for event_id, event_type, micros, actor, team, subject, refs, ai, attributes in rows:
        occurred_at = _at(micros)
        person_id, team_id = attribution.person_team(actor, team, occurred_at)
        refs_map = _json(refs) or {}
        out.append(
            Event(
                id=event_id,
                type=event_type,
                occurred_at=occurred_at,
                refs={k: tuple(v) for k, v in refs_map.items()},
                attributes=_json(attributes) or {},
                actor=actor,
                person_id=person_id,
                team_id=team_id,
                subject=subject,
                ai=_json(ai),
            )
        )
    return out


def _prefer_indexes() -> None:
    """Steer this transaction's plans to the indexes.

    Every statement of a scoring pass is an indexed lookup. A table that has not
    been analyzed yet (a new install filling up between autovacuum runs) looks
    empty to the planner, which then joins thousands of ref keys against it by
    sequential scan: seconds per batch instead of milliseconds. The same inflated
    estimates switch JIT compilation on, which costs more than these queries.
    SET LOCAL ends with the transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL jit = off")


def _commit_without_flush() -> None:
    """Let this transaction's commit return before its WAL reaches the disk.

    Only for passes whose work is found again if lost: an outbox pass (its units,
    entries and the outbox rows it deletes commit or vanish together, so a commit
    lost in a server crash leaves its events in the outbox) and a window sweep
    (the windows are still closed at the next sweep). Any later durable commit
    flushes the WAL past it anyway. Saves a disk sync per batch. Not for rescore,
    whose batches nothing would replay.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


def _query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def events_by_id(ids: Collection[int]) -> list[Event]:
    if not ids:
        return []
    return _events_from_rows(_query(_EVENT_SELECT + "WHERE id = ANY(%s)", [list(ids)]))


def _key_list(keys: Collection[str]) -> str:
    # Thousands of keys go as one JSON array: the driver's text-array encoder
    # checks every element for quoting, which costs more than the lookup.
    return orjson.dumps(list(keys)).decode()


# Events carrying any of a list of keys: one GIN probe per key (``@> ARRAY[key]``)
# rather than one ``ref_keys && <all keys>``, which checks every candidate row
# against the whole list (about 5x slower with thousands of keys). Each probe is a
# LATERAL subquery fenced with OFFSET 0, so the planner cannot fold the type filter
# into it: without statistics (a new install, a bulk load before autoanalyze) it
# otherwise reads every event of the wanted types through the type index and tests
# each against every key, 500x slower. The rows are selected in the join itself:
# given an outer ``WHERE id IN (...)`` the planner scans the whole table instead.
_BY_KEY = """
FROM jsonb_array_elements_text(%s::jsonb) AS k(key)
CROSS JOIN LATERAL (
    SELECT * FROM ledger_workevent x WHERE x.ref_keys @> ARRAY[k.key::varchar] OFFSET 0
) e
WHERE e.type = ANY(%s)
"""
# Constant SQL pieces of this module, joined once at import.
_LINKED = (
    "SELECT DISTINCT ON (e.id) e.id, e.type,"  # noqa: S608
    " (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.actor, e.team, e.subject,"
    " e.refs, e.ai, e.attributes" + _BY_KEY + "ORDER BY e.id"
)
_WALK = (
    "SELECT DISTINCT ON (e.id) e.id, e.type,"  # noqa: S608
    " (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.ref_keys" + _BY_KEY + "ORDER BY e.id"
)
_LINKED_IDS = "SELECT DISTINCT e.id" + _BY_KEY


def events_linked(
    keys: Collection[str], types: Collection[str], *, known: Collection[int] = ()
) -> list[Event]:
    """Events of ``types`` carrying any of ``keys`` (GIN-indexed per key).

    With ``known`` (ids already loaded), only the ids are looked up by key and
    just the missing events are read and converted: within a batch most linked
    events are already in hand, and reading them again costs more than the lookup.
    """
    if not keys or not types:
        return []
    if not known:
        return _events_from_rows(_query(_LINKED, [_key_list(keys), sorted(types)]))
    ids = {row[0] for row in _query(_LINKED_IDS, [_key_list(keys), sorted(types)])}
    return events_by_id(ids.difference(known))


class _Pool:
    """Events loaded so far in one pass, indexed by ref key; each converted once."""

    def __init__(self) -> None:
        self.by_id: dict[int, Event] = {}
        self.keys: dict[int, frozenset[str]] = {}
        self.by_key: defaultdict[str, list[Event]] = defaultdict(list)
        self.asked: set[str] = set()
        self.asked_types: set[str] = set()

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.id in self.by_id:
                continue
            self.by_id[event.id] = event
            # Kept per event: a pass asks for the same event's keys several times.
            keys = self.keys[event.id] = event_keys(event)
            for key in keys:
                self.by_key[key].append(event)

    def fetch(self, keys: set[str], types: set[str]) -> None:
        """Load the events of ``types`` carrying ``keys`` that were not asked for yet."""
        fresh_types = types - self.asked_types
        if fresh_types:
            # Keys asked before were asked for other types only: ask again for these.
            if self.asked:
                self.add(events_linked(self.asked, fresh_types, known=self.by_id.keys()))
            self.asked_types |= fresh_types
        new = keys - self.asked
        if new:
            self.asked |= new
            self.add(events_linked(new, self.asked_types, known=self.by_id.keys()))

    def linked(self, keys: Iterable[str]) -> list[Event]:
        found: dict[int, Event] = {}
        for key in keys:
            for event in self.by_key.get(key, ()):
                found[event.id] = event
        return list(found.values())


def _result_keys(result: UnitResult) -> set[str]:
    return {_key(kind, value) for kind, values in result.refs.items() for value in values}


@dataclass
class _Job:
    """One unit to evaluate: its compiled version, trigger and the keys to load events for."""

    compiled: CompiledDefinition
    trigger: Event
    keys: frozenset[str]
    result: UnitResult | None = None
    given: frozenset[int] = frozenset()


def _evaluate_jobs(jobs: Sequence[_Job], pool: _Pool, now: datetime) -> None:
    """Evaluate every job against the events linked to it, loaded in batch.

    Round one loads the events of all jobs' keys in one query; a later round
    runs only for keys that met requirements carried in, and re-evaluates only
    the jobs that gained keys and, through them, events. The engine's contract
    (every event sharing a key with the unit's refs is given) holds when no job
    gains keys; a job whose new keys link no event it was not given already has
    its result, since a result is a function of the events given.
    """
    types = set().union(*(j.compiled.types for j in jobs)) if jobs else set()
    todo = list(jobs)
    while todo:
        pool.fetch(set().union(*(j.keys for j in todo)), types)
        again = []
        for job in todo:
            linked = pool.linked(job.keys)
            given = frozenset(e.id for e in linked)
            if job.result is not None and given == job.given:
                continue
            job.given = given
            job.result = evaluate_unit(job.compiled, job.trigger, linked, now)
            if job.result is None:
                continue
            gained = _result_keys(job.result) - job.keys
            if gained:
                job.keys |= gained
                again.append(job)
        todo = again


# --- Settling units -----------------------------------------------------------------

_LOCK_UNITS = """
SELECT u.id, u.version_id, u.trigger_event_id, u.state, u.units, u.credited, u.reason,
       (extract(epoch FROM u.satisfied_at) * 1000000)::bigint,
       (extract(epoch FROM u.completed_at) * 1000000)::bigint,
       (extract(epoch FROM u.closes_at) * 1000000)::bigint,
       u.evidence, u.ref_keys, u.person_id, u.team_id, u.ai_assisted, u.ai_share
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
    ai_assisted = v.ai_assisted, ai_share = v.ai_share, updated_at = %s
FROM jsonb_to_recordset(%s::jsonb) AS v(
    id bigint, state text, units numeric, credited numeric, reason text,
    satisfied_at timestamptz, completed_at timestamptz, closes_at timestamptz, evidence jsonb,
    ref_keys jsonb, actor text, person_id bigint, team_id bigint, subject text,
    ai_assisted boolean, ai_share numeric)
WHERE u.id = v.id
"""
# A unit first seen in this pass is evaluated before its row exists and inserted
# with its final values; a row that appeared meanwhile (another worker) conflicts
# and goes through the locked path like any existing unit.
_INSERT_UNITS = """
INSERT INTO scoring_workunit (version_id, trigger_event_id, triggered_at, state, units,
    credited, reason, satisfied_at, completed_at, closes_at, evidence, ref_keys, actor,
    person_id, team_id, subject, ai_assisted, ai_share, created_at, updated_at)
SELECT t.version_id, t.trigger_event_id, t.triggered_at, t.state, t.units, t.credited,
       t.reason, t.satisfied_at, t.completed_at, t.closes_at,
       ARRAY(SELECT e::bigint FROM jsonb_array_elements_text(t.evidence)
             WITH ORDINALITY AS x(e, n) ORDER BY n),
       ARRAY(SELECT jsonb_array_elements_text(t.ref_keys)),
       t.actor, t.person_id, t.team_id, t.subject, t.ai_assisted, t.ai_share, %s, %s
FROM jsonb_to_recordset(%s::jsonb) AS t(
    version_id bigint, trigger_event_id bigint, triggered_at timestamptz, state text,
    units numeric, credited numeric, reason text, satisfied_at timestamptz,
    completed_at timestamptz, closes_at timestamptz, evidence jsonb, ref_keys jsonb,
    actor text, person_id bigint, team_id bigint, subject text, ai_assisted boolean,
    ai_share numeric)
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
)  # fmt: skip


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
        sorted(_result_keys(result)),
        result.person_id,
        result.team_id,
        ai_assisted,
        ai_share,
    )


def _stored(row: Sequence[Any]) -> tuple[Any, ...]:
    """A locked row's evaluated columns, normalised like :func:`_evaluated`."""
    values = list(row[3:16])
    values[4:7] = [_moment(m) for m in values[4:7]]
    values[7] = list(values[7])
    values[8] = sorted(values[8] or ())
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
    pool: _Pool
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


def _insert_fresh(jobs: Sequence[tuple[LiveVersion, _Job]], writes: _Writes) -> set[UnitKey]:
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


def _settle_units(
    targets: Collection[UnitKey],
    *,
    catalog: Catalog,
    now: datetime,
    pool: _Pool,
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
    _prefer_indexes()
    pool.add(events_by_id({t for _, t in targets} - pool.by_id.keys()))
    writes = _Writes(now=now, pool=pool, stats=stats)

    known = set(existing)
    fresh: list[tuple[LiveVersion, _Job]] = []
    for version_id, trigger_id in targets:
        trigger = pool.by_id.get(trigger_id)
        if trigger is None or (version_id, trigger_id) in known:
            continue
        version = catalog.by_id[version_id]
        if trigger_holds(version.compiled, trigger):
            fresh.append((version, _Job(version.compiled, trigger, pool.keys[trigger_id])))
    _evaluate_jobs([j for _, j in fresh], pool, now)
    inserted = _insert_fresh(fresh, writes)

    rest = [t for t in targets if t not in inserted]
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_UNITS, [[v for v, _ in rest], [t for _, t in rest]])
        locked = cursor.fetchall()
    jobs: list[tuple[tuple[Any, ...], _Job]] = []
    for row in locked:
        trigger = pool.by_id[row[2]]
        keys = pool.keys[trigger.id] | set(row[11] or ())
        jobs.append((row, _Job(catalog.by_id[row[1]].compiled, trigger, keys)))
    _evaluate_jobs([j for _, j in jobs], pool, now)

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


def _effective_at(result: UnitResult, delta: Decimal, pool: _Pool, now: datetime) -> datetime:
    """The event time a credit change belongs to."""
    if delta > 0 and result.completed_at is not None:
        return result.completed_at
    if result.state is UnitState.VOIDED:
        disqualifier = pool.by_id.get(result.evidence[-1])
        if disqualifier is not None:
            return disqualifier.occurred_at
    return result.completed_at or now


# --- Finding the units a batch of events can change --------------------------------


def _affected(
    batch: Sequence[Event], catalog: Catalog, pool: _Pool
) -> tuple[set[UnitKey], set[UnitKey]]:
    """The units (version, trigger) the batch can change, and those known to exist."""
    # Each event's keys, tagged with the definitions for which its type matters.
    frontier: defaultdict[str, set[int]] = defaultdict(set)
    triggers: dict[tuple[int, int], datetime] = {}  # (definition, trigger) -> trigger time
    for event in batch:
        definitions = catalog.type_definitions.get(event.type)
        if not definitions:
            continue
        for key in pool.keys[event.id]:
            frontier[key] |= definitions
        for definition_id in catalog.trigger_definitions.get(event.type, ()):
            triggers[(definition_id, event.id)] = event.occurred_at
    batch_keys = set(frontier)

    # Walk the ledger's refs backwards: an event links to a unit through the
    # trigger's refs or through refs a requirement event carried in.
    asked: set[str] = set()
    for depth in range(catalog.carry_depth + 1):
        keys = set(frontier) - asked
        if not keys:
            break
        asked |= keys
        types = set(catalog.trigger_types)
        if depth < catalog.carry_depth:
            types |= catalog.carrying_types
        rows = _query(_WALK, [_key_list(keys), sorted(types)])
        following: defaultdict[str, set[int]] = defaultdict(set)
        for event_id, event_type, micros, row_keys in rows:
            shared = [k for k in row_keys if k in keys]
            definitions = set().union(*(frontier[k] for k in shared))
            for definition_id in definitions:
                if (
                    event_type in catalog.trigger_definitions
                    and definition_id in (catalog.trigger_definitions[event_type])
                ):
                    triggers[(definition_id, event_id)] = _at(micros)
                carried = catalog.carries.get(definition_id, {}).get(event_type)
                if carried and any(k.split(":", 1)[0] in carried for k in shared):
                    for k in row_keys:
                        following[k].add(definition_id)
        frontier = following

    # Live units: of these triggers (any version), or sharing a key with the batch.
    trigger_ids = sorted({t for _, t in triggers})
    rows = _query(
        """
        SELECT id, version_id, trigger_event_id, ref_keys FROM scoring_workunit
        WHERE superseded_at IS NULL AND trigger_event_id = ANY(%s)
        UNION
        SELECT u.id, u.version_id, u.trigger_event_id, u.ref_keys
        FROM jsonb_array_elements_text(%s::jsonb) AS k(key)
        CROSS JOIN LATERAL (
            SELECT * FROM scoring_workunit x WHERE x.ref_keys @> ARRAY[k.key::varchar] OFFSET 0
        ) u
        WHERE u.superseded_at IS NULL
        """,
        [trigger_ids, _key_list(batch_keys)],
    )
    targets: set[UnitKey] = set()
    existing: set[UnitKey] = set()
    has_unit: set[tuple[int, int]] = set()
    batch_types_by_key: defaultdict[str, set[str]] = defaultdict(set)
    for event in batch:
        for key in pool.keys[event.id]:
            batch_types_by_key[key].add(event.type)
    batch_ids = {e.id for e in batch}
    for _, version_id, trigger_id, unit_keys in rows:
        version = catalog.by_id.get(version_id)
        if version is None:
            continue
        relevant = (version.definition_id, trigger_id) in triggers or any(
            version.types & batch_types_by_key.get(k, set()) for k in unit_keys
        )
        if relevant or trigger_id in batch_ids:
            targets.add((version_id, trigger_id))
            existing.add((version_id, trigger_id))
            has_unit.add((version.definition_id, trigger_id))
    for (definition_id, trigger_id), at in triggers.items():
        if (definition_id, trigger_id) in has_unit:
            continue  # the trigger keeps the version that scored it
        governing = catalog.governing(definition_id, at)
        if governing is not None:
            targets.add((governing.id, trigger_id))
    return targets, existing


# --- Services -------------------------------------------------------------------------


# Events claimed per outbox pass. A pass has a fixed cost (the catalog, the
# attribution lookups, the ref walk's rounds, the commit) besides its per-event
# work: 2,000 drains ~28% faster than 1,000 on the benchmark's history, and a
# trickle still makes small passes.
BATCH_SIZE = 2000

_CLAIM = """
SELECT event_id FROM ledger_eventoutbox ORDER BY event_id LIMIT %s FOR UPDATE SKIP LOCKED
"""


def score_pending(*, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Score one batch of unscored events from the outbox; returns how many were claimed.

    One transaction: claim up to ``batch_size`` outbox rows (SKIP LOCKED, so any
    number of workers share the work), settle every unit they can change at
    ``now``, delete the claimed rows. A crash rolls everything back and leaves
    the rows for the next run. Returns 0 when the outbox is empty.
    """
    with transaction.atomic():
        _prefer_indexes()
        _commit_without_flush()
        claimed = [r[0] for r in _query(_CLAIM, [batch_size])]
        if not claimed:
            return 0
        catalog = load_catalog()
        pool = _Pool()
        batch = events_by_id(claimed)
        pool.add(batch)
        targets, existing = _affected(batch, catalog, pool)
        _settle_units(targets, catalog=catalog, now=now, pool=pool, existing=existing)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ledger_eventoutbox WHERE event_id = ANY(%s)", [claimed])
    return len(claimed)


def _is_retryable(exc: OperationalError) -> bool:
    # Deadlocks (two batches locking overlapping units in different orders
    # through the insert path) and serialization failures: retry the batch.
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}


@dataclass
class DrainResult:
    events: int = 0
    more: bool = False


def outbox_drain(
    *,
    clock: Callable[[], datetime],
    batch_size: int = BATCH_SIZE,
    budget_seconds: float | None = None,
    retries: int = 5,
) -> DrainResult:
    """Run :func:`score_pending` until the outbox is empty or the time budget is spent.

    ``clock`` is read once per batch. ``more`` says that the budget ran out with
    events left. A deadlock or serialization failure retries the batch.
    """
    started = time.monotonic()
    out = DrainResult()
    failures = 0
    while True:
        try:
            claimed = score_pending(now=clock(), batch_size=batch_size)
        except OperationalError as exc:
            failures += 1
            if not _is_retryable(exc) or failures > retries:
                raise
            logger.info("scoring batch conflicted (%s); retrying", exc.__cause__)
            continue
        out.events += claimed
        if claimed < batch_size:
            return out
        if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
            out.more = True
            return out


def sweep(*, now: datetime, batch_size: int = 1000) -> int:
    """Settle the units whose window has closed by ``now``, then drain the outbox.

    Returns how many units were re-evaluated. Each batch of units is one
    transaction with the same locking as :func:`score_pending`.
    """
    swept = 0
    last_id = 0
    while True:
        with transaction.atomic():
            _commit_without_flush()
            rows = list(
                WorkUnit.objects.filter(
                    closes_at__lte=now, superseded_at__isnull=True, id__gt=last_id
                )
                .order_by("id")
                .values_list("id", "version_id", "trigger_event_id")[:batch_size]
            )
            if not rows:
                break
            last_id = rows[-1][0]
            targets = [(v, t) for _, v, t in rows]
            stats = _settle_units(
                targets, catalog=load_catalog(), now=now, pool=_Pool(), existing=targets
            )
            swept += stats.units
        if len(rows) < batch_size:
            break
    outbox_drain(clock=lambda: now)  # outbox passes keep their own size (BATCH_SIZE)
    return swept


# --- Rescore --------------------------------------------------------------------------


@dataclass
class RescoreResult:
    version: DefinitionVersion
    covers_from: datetime
    superseded: int = 0
    triggers: int = 0
    units: int = 0
    entries: int = 0
    completed: int = 0
    details: dict[str, int] = field(default_factory=dict)


def earliest_event_time() -> datetime:
    from ledger.models import WorkEvent

    first = WorkEvent.objects.aggregate(t=Min("occurred_at"))["t"]
    return first or BEGINNING_OF_TIME


def _trigger_ids(event_type: str, since: datetime, batch_size: int) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = [
            r[0]
            for r in _query(
                "SELECT id FROM ledger_workevent WHERE type = %s AND occurred_at >= %s "
                "AND id > %s ORDER BY id LIMIT %s",
                [event_type, since, last, batch_size],
            )
        ]
        if not ids:
            return
        yield ids
        last = ids[-1]


def definition_rescore(
    *,
    definition: Definition,
    now: datetime,
    covers_from: datetime | None = None,
    batch_size: int = 500,
    progress: Callable[[int], object] | None = None,
) -> RescoreResult:
    """Replay ``definition`` over history into a new published version.

    Publishes a copy of the latest version (or the latest version itself when
    it is a draft) covering triggers from ``covers_from`` (default: the earliest
    event), marks the older versions' units triggered from then on as
    superseded (their AwuEntries are never touched), then scores every trigger
    since ``covers_from`` in batches, each its own transaction. ``progress`` is
    called with the number of triggers done after each batch. Raises
    :class:`awu.definitions.services.InvalidVersion` when the rules have problems.
    """
    from awu.definitions import services as definitions

    start = covers_from or earliest_event_time()
    latest = definition.versions.order_by("-version").first()
    if latest is None:
        raise definitions.DefinitionError(f"{definition} has no version to rescore")
    with transaction.atomic():
        draft = (
            latest
            if not latest.is_published
            else definitions.version_draft_from(version=latest, note="rescore")
        )
        if not draft.note:
            draft.note = "rescore"
        published = definitions.definition_publish(version=draft, now=now, covers_from=start)
        superseded = (
            WorkUnit.objects.filter(
                version__definition=definition,
                triggered_at__gte=start,
                superseded_at__isnull=True,
            )
            .filter(~Q(version=published))
            .update(superseded_at=now, superseded_by=published)
        )
    result = RescoreResult(version=published, covers_from=start, superseded=superseded)
    for ids in _trigger_ids(published.trigger_type, start, batch_size):
        with transaction.atomic():
            catalog = load_catalog()
            stats = _settle_units(
                [(published.pk, t) for t in ids], catalog=catalog, now=now, pool=_Pool()
            )
        result.triggers += len(ids)
        result.units += stats.units
        result.entries += stats.entries
        if progress is not None:
            progress(len(ids))
    result.completed = WorkUnit.objects.filter(
        version=published, state=WorkUnit.State.COMPLETED
    ).count()
    return result


# --- Preview (used by the admin; writes nothing) ----------------------------------


def evaluate_recent(
    *, compiled: CompiledDefinition, since: datetime, now: datetime, limit: int
) -> tuple[list[UnitResult], dict[int, Event], bool]:
    """Results for the triggers in [since, now], the events used, and whether the
    trigger list was cut at ``limit`` (the most recent kept)."""
    rows = _query(
        _EVENT_SELECT + "WHERE type = %s AND occurred_at >= %s AND occurred_at <= %s "
        "ORDER BY occurred_at DESC, id DESC LIMIT %s",
        [compiled.spec.trigger_type, since, now, limit + 1],
    )
    truncated = len(rows) > limit
    triggers = _events_from_rows(rows[:limit])
    pool = _Pool()
    pool.add(triggers)
    jobs = [_Job(compiled, t, event_keys(t)) for t in sorted(triggers, key=lambda e: e.id)]
    _evaluate_jobs(jobs, pool, now)
    return [j.result for j in jobs if j.result is not None], pool.by_id, truncated
