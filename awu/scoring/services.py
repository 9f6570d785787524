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
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.db import OperationalError, connection, transaction
from django.db.models import Min, Q

from awu.definitions.models import BEGINNING_OF_TIME, Definition, DefinitionVersion
from awu.scoring.engine import CompiledDefinition, compile_definition, entry_delta, evaluate_unit
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


def event_keys(event: Event) -> set[str]:
    return {_key(kind, value) for kind, values in event.refs.items() for value in values}


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

_EVENT_SELECT = (
    "SELECT id, type, occurred_at, actor, team, subject, refs, ai, attributes "
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
    for event_id, event_type, occurred_at, actor, team, subject, refs, ai, attributes in rows:
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


def _query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def events_by_id(ids: Collection[int]) -> list[Event]:
    if not ids:
        return []
    return _events_from_rows(_query(_EVENT_SELECT + "WHERE id = ANY(%s)", [list(ids)]))


# Events carrying any of a list of keys: one GIN probe per key (``@> ARRAY[key]``)
# rather than one ``ref_keys && <all keys>``, which checks every candidate row
# against the whole list (about 5x slower with thousands of keys). The rows are
# selected in the join itself: the planner overestimates rows per key, and given
# an outer ``WHERE id IN (...)`` it scans the whole table instead.
_LINKED = """
SELECT DISTINCT ON (e.id) e.id, e.type, e.occurred_at, e.actor, e.team, e.subject, e.refs,
       e.ai, e.attributes
FROM unnest(%s::varchar[]) AS k(key)
JOIN ledger_workevent e ON e.ref_keys @> ARRAY[k.key]
WHERE e.type = ANY(%s)
ORDER BY e.id
"""
_WALK = """
SELECT DISTINCT ON (e.id) e.id, e.type, e.occurred_at, e.ref_keys
FROM unnest(%s::varchar[]) AS k(key)
JOIN ledger_workevent e ON e.ref_keys @> ARRAY[k.key]
WHERE e.type = ANY(%s)
ORDER BY e.id
"""


_LINKED_IDS = """
SELECT DISTINCT e.id
FROM unnest(%s::varchar[]) AS k(key)
JOIN ledger_workevent e ON e.ref_keys @> ARRAY[k.key]
WHERE e.type = ANY(%s)
"""


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
        return _events_from_rows(_query(_LINKED, [sorted(keys), sorted(types)]))
    ids = {row[0] for row in _query(_LINKED_IDS, [sorted(keys), sorted(types)])}
    return events_by_id(ids.difference(known))


class _Pool:
    """Events loaded so far in one pass, indexed by ref key; each converted once."""

    def __init__(self) -> None:
        self.by_id: dict[int, Event] = {}
        self.by_key: defaultdict[str, list[Event]] = defaultdict(list)
        self.asked: set[str] = set()
        self.asked_types: set[str] = set()

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.id in self.by_id:
                continue
            self.by_id[event.id] = event
            for key in event_keys(event):
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
    keys: set[str]
    result: UnitResult | None = None


def _evaluate_jobs(jobs: Sequence[_Job], pool: _Pool, now: datetime) -> None:
    """Evaluate every job against the events linked to it, loaded in batch.

    Round one loads the events of all jobs' keys in one query; a later round
    runs only for keys that met requirements carried in, and re-evaluates only
    the jobs that gained keys. The engine's contract (every event sharing a key
    with the unit's refs is given) holds when no job gains keys.
    """
    types = set().union(*(j.compiled.types for j in jobs)) if jobs else set()
    todo = list(jobs)
    while todo:
        pool.fetch(set().union(*(j.keys for j in todo)), types)
        again = []
        for job in todo:
            job.result = evaluate_unit(job.compiled, job.trigger, pool.linked(job.keys), now)
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
       u.satisfied_at, u.completed_at, u.closes_at, u.evidence, u.ref_keys, u.person_id,
       u.team_id, u.ai_assisted, u.ai_share
FROM scoring_workunit u
JOIN unnest(%s::bigint[], %s::bigint[]) AS t(version_id, trigger_event_id)
  ON u.version_id = t.version_id AND u.trigger_event_id = t.trigger_event_id
WHERE u.superseded_at IS NULL
ORDER BY u.id
FOR UPDATE OF u
"""

_INSERT_UNITS = """
INSERT INTO scoring_workunit (version_id, trigger_event_id, state, units, credited,
    triggered_at, evidence, ref_keys, actor, subject, created_at, updated_at)
SELECT t.version_id, t.trigger_event_id, 'pending', 0, 0, t.triggered_at,
       ARRAY[t.trigger_event_id], ARRAY(SELECT jsonb_array_elements_text(t.ref_keys)),
       t.actor, t.subject, %s, %s
FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::jsonb[], %s::text[], %s::text[])
     AS t(version_id, trigger_event_id, triggered_at, ref_keys, actor, subject)
ORDER BY t.version_id, t.trigger_event_id
ON CONFLICT (version_id, trigger_event_id) DO NOTHING
"""

# Both bulk writes take their rows as one JSON document (jsonb_to_recordset): the
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
_UPDATE_COLUMNS = (
    "id", "state", "units", "credited", "reason", "satisfied_at", "completed_at", "closes_at",
    "evidence", "ref_keys", "actor", "person_id", "team_id", "subject", "ai_assisted", "ai_share",
)  # fmt: skip

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
_ENTRY_COLUMNS = (
    "unit_id", "version_id", "definition_id", "domain", "delta", "state", "reason",
    "created_at", "effective_at", "person_id", "team_id",
)  # fmt: skip


def _records_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as a JSON array of objects for jsonb_to_recordset (Decimals as exact text)."""
    return orjson.dumps(
        [dict(zip(columns, row, strict=True)) for row in rows], default=str
    ).decode()


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


def _sorted_keys(result: UnitResult) -> list[str]:
    return sorted(_result_keys(result))


@dataclass
class SettleStats:
    units: int = 0
    entries: int = 0
    changed: int = 0


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

    known = set(existing)
    inserts = []
    for version_id, trigger_id in targets:
        trigger = pool.by_id.get(trigger_id)
        if trigger is None or (version_id, trigger_id) in known:
            continue
        compiled = catalog.by_id[version_id].compiled
        # The trigger condition reads the trigger alone, so no linked events are needed.
        if evaluate_unit(compiled, trigger, (), now) is not None:
            inserts.append((version_id, trigger))
    with connection.cursor() as cursor:
        if inserts:
            cursor.execute(
                _INSERT_UNITS,
                [
                    now,
                    now,
                    [v for v, _ in inserts],
                    [t.id for _, t in inserts],
                    [t.occurred_at for _, t in inserts],
                    [orjson.dumps(sorted(event_keys(t))).decode() for _, t in inserts],
                    [t.actor for _, t in inserts],
                    [t.subject for _, t in inserts],
                ],
            )
        cursor.execute(_LOCK_UNITS, [[v for v, _ in targets], [t for _, t in targets]])
        locked = cursor.fetchall()
    if not locked:
        return stats

    jobs: list[tuple[tuple[Any, ...], _Job]] = []
    for row in locked:
        version = catalog.by_id[row[1]]
        trigger = pool.by_id[row[2]]
        keys = event_keys(trigger) | set(row[11] or ())
        jobs.append((row, _Job(version.compiled, trigger, keys)))
    _evaluate_jobs([j for _, j in jobs], pool, now)

    updates: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    for row, job in jobs:
        result = job.result
        if result is None:
            continue  # cannot happen for an immutable version; keep the row as it is
        stats.units += 1
        version = catalog.by_id[row[1]]
        credited = row[5]
        ai_assisted, ai_share = _ai(result)
        values = (
            str(result.state),
            result.units,
            result.credit,
            result.reason,
            result.satisfied_at,
            result.completed_at,
            result.closes_at,
            list(result.evidence),
            _sorted_keys(result),
            result.person_id,
            result.team_id,
            ai_assisted,
            ai_share,
        )
        stored = (
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            list(row[10]),
            sorted(row[11] or ()),
            row[12],
            row[13],
            row[14],
            row[15],
        )
        if values != stored:
            stats.changed += 1
            updates.append(
                (
                    row[0],
                    *values[:7],
                    values[7],
                    values[8],
                    result.actor,
                    result.person_id,
                    result.team_id,
                    result.subject,
                    ai_assisted,
                    ai_share,
                )
            )
        delta = entry_delta(credited, result)
        if delta is not None:
            entries.append(
                (
                    row[0],
                    version.id,
                    version.definition_id,
                    version.domain,
                    delta,
                    str(result.state),
                    result.reason,
                    now,
                    _effective_at(result, delta, pool, now),
                    result.person_id,
                    result.team_id,
                )
            )
    with connection.cursor() as cursor:
        if updates:
            cursor.execute(_UPDATE_UNITS, [now, _records_json(_UPDATE_COLUMNS, updates)])
        if entries:
            cursor.execute(_INSERT_ENTRIES, [_records_json(_ENTRY_COLUMNS, entries)])
    stats.entries = len(entries)
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


def _affected(batch: Sequence[Event], catalog: Catalog) -> tuple[set[UnitKey], set[UnitKey]]:
    """The units (version, trigger) the batch can change, and those known to exist."""
    # Each event's keys, tagged with the definitions for which its type matters.
    frontier: defaultdict[str, set[int]] = defaultdict(set)
    triggers: dict[tuple[int, int], datetime] = {}  # (definition, trigger) -> trigger time
    for event in batch:
        definitions = catalog.type_definitions.get(event.type)
        if not definitions:
            continue
        for key in event_keys(event):
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
        rows = _query(_WALK, [sorted(keys), sorted(types)])
        following: defaultdict[str, set[int]] = defaultdict(set)
        for event_id, event_type, occurred_at, row_keys in rows:
            shared = [k for k in row_keys if k in keys]
            definitions = set().union(*(frontier[k] for k in shared))
            for definition_id in definitions:
                if (
                    event_type in catalog.trigger_definitions
                    and definition_id in (catalog.trigger_definitions[event_type])
                ):
                    triggers[(definition_id, event_id)] = occurred_at
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
        FROM unnest(%s::varchar[]) AS k(key)
        JOIN scoring_workunit u ON u.ref_keys @> ARRAY[k.key]
        WHERE u.superseded_at IS NULL
        """,
        [trigger_ids, sorted(batch_keys)],
    )
    targets: set[UnitKey] = set()
    existing: set[UnitKey] = set()
    has_unit: set[tuple[int, int]] = set()
    batch_types_by_key: defaultdict[str, set[str]] = defaultdict(set)
    for event in batch:
        for key in event_keys(event):
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


_CLAIM = """
SELECT event_id FROM ledger_eventoutbox ORDER BY event_id LIMIT %s FOR UPDATE SKIP LOCKED
"""


def score_pending(*, now: datetime, batch_size: int = 1000) -> int:
    """Score one batch of unscored events from the outbox; returns how many were claimed.

    One transaction: claim up to ``batch_size`` outbox rows (SKIP LOCKED, so any
    number of workers share the work), settle every unit they can change at
    ``now``, delete the claimed rows. A crash rolls everything back and leaves
    the rows for the next run. Returns 0 when the outbox is empty.
    """
    with transaction.atomic():
        _prefer_indexes()
        claimed = [r[0] for r in _query(_CLAIM, [batch_size])]
        if not claimed:
            return 0
        catalog = load_catalog()
        pool = _Pool()
        batch = events_by_id(claimed)
        pool.add(batch)
        targets, existing = _affected(batch, catalog)
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
    batch_size: int = 1000,
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
    outbox_drain(clock=lambda: now, batch_size=batch_size)
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
