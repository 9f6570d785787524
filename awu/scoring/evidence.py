"""Ledger rows as engine events, and the events linked to a unit (its evidence).

The scoring engine works on plain :class:`awu.rules.spec.Event` values; this
module reads them from the ledger in batch, with the identity and team
attribution at each event's time, and finds the events that share a ref key with
a unit. :class:`Pool` keeps what one pass has loaded so each event is read and
converted once; :func:`evaluate_jobs` evaluates units against it.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.db import connection
from django.db.models.functions import Coalesce

from awu.rules.engine import CompiledDefinition, evaluate_unit
from awu.rules.incidents import DEPLOY_TYPE, INCIDENT_TYPE, SERVICE_TYPES
from awu.rules.spec import Event, ServiceWindow, UnitResult
from ledger.identities import persons_for_actors
from ledger.models import Membership, Team
from ledger.service_names import ServiceNames, load_service_names


def _key(kind: str, value: str) -> str:
    # The same "kind:value" encoding as ledger WorkEvent.ref_keys.
    return f"{kind}:{value}"


def event_keys(event: Event) -> frozenset[str]:
    return frozenset(_key(kind, value) for kind, values in event.refs.items() for value in values)


# Timestamps are read as integer microseconds since the epoch (exact) and turned
# into datetimes here: a pass reads tens of thousands of them, and the driver's
# text parser for timestamptz (used through Django's time-zone loader) costs
# several times more than the integer loader plus a timedelta.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def from_micros_or_none(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


EVENT_SELECT = (
    "SELECT id, type, (extract(epoch FROM occurred_at) * 1000000)::bigint, actor, team, subject,"
    " refs, ai, attributes, source_id "
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
    # A merged team's slug attributes to the team it was merged into.
    teams = (
        dict(
            Team.objects.filter(slug__in=slugs).values_list(
                "slug", Coalesce("merged_into_id", "id")
            )
        )
        if slugs
        else {}
    )
    memberships: defaultdict[int, list[tuple[datetime, datetime | None, int]]] = defaultdict(list)
    if persons:
        for person_id, team_id, start, end in (
            Membership.objects.filter(person_id__in=set(persons.values()))
            .order_by("person_id", "-valid_from")
            .values_list("person_id", "team_id", "valid_from", "valid_to")
        ):
            memberships[person_id].append((start, end, team_id))
    return _Attribution(persons, teams, dict(memberships))


def events_from_rows(
    rows: Sequence[tuple[Any, ...]], names: ServiceNames | None = None
) -> list[Event]:
    """Ledger rows as engine events. ``names`` are the service name mappings
    (a scoring pass reads them once; without them they are read here)."""
    attribution = _attribution(rows)
    decoded = [(row, _json(row[8]) or {}) for row in rows]
    if names is None and any(r[1] in SERVICE_TYPES for r, _ in decoded):
        names = load_service_names()
    out = []
    for row, attributes in decoded:
        event_id, event_type, micros, actor, team, subject, refs, ai, _, source_id = row
        occurred_at = from_micros(micros)
        person_id, team_id = attribution.person_team(actor, team, occurred_at)
        refs_map = _json(refs) or {}
        out.append(
            Event(
                id=event_id,
                type=event_type,
                occurred_at=occurred_at,
                refs={k: tuple(v) for k, v in refs_map.items()},
                attributes=attributes,
                actor=actor,
                person_id=person_id,
                team_id=team_id,
                subject=subject,
                ai=_json(ai),
                service=names.resolve(source_id, attributes)
                if names is not None and event_type in SERVICE_TYPES
                else None,
            )
        )
    return out


def prefer_indexes() -> None:
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


def query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def events_by_id(ids: Collection[int], names: ServiceNames | None = None) -> list[Event]:
    if not ids:
        return []
    return events_from_rows(query(EVENT_SELECT + "WHERE id = ANY(%s)", [list(ids)]), names)


def key_list(keys: Collection[str]) -> str:
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
_EVENT_COLUMNS = (
    "SELECT DISTINCT ON (e.id) e.id, e.type,"
    " (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.actor, e.team, e.subject,"
    " e.refs, e.ai, e.attributes, e.source_id"
)
_LINKED = _EVENT_COLUMNS + _BY_KEY + "ORDER BY e.id"
# Events naming one of the services in a time span, one probe per (name, span) on
# the partial expression indexes of ledger migration 0014; a name may be a
# service's own or one a source maps to it (resolved again when read).
_IN_WINDOWS = (
    _EVENT_COLUMNS  # noqa: S608
    + """
FROM jsonb_to_recordset(%s::jsonb) AS w(name text, lo timestamptz, hi timestamptz)
CROSS JOIN LATERAL (
    SELECT * FROM ledger_workevent x
    WHERE x.attributes->>'service' = w.name AND x.occurred_at BETWEEN w.lo AND w.hi
    UNION ALL
    SELECT * FROM ledger_workevent x
    WHERE x.attributes->>'service_id' = w.name AND x.occurred_at BETWEEN w.lo AND w.hi
) e
WHERE e.type = ANY(%s)
ORDER BY e.id
"""
)
WALK = (
    "SELECT DISTINCT ON (e.id) e.id, e.type,"  # noqa: S608
    " (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.ref_keys" + _BY_KEY + "ORDER BY e.id"
)
_LINKED_IDS = "SELECT DISTINCT e.id" + _BY_KEY


def events_linked(
    keys: Collection[str],
    types: Collection[str],
    *,
    known: Collection[int] = (),
    names: ServiceNames | None = None,
) -> list[Event]:
    """Events of ``types`` carrying any of ``keys`` (GIN-indexed per key).

    With ``known`` (ids already loaded), only the ids are looked up by key and
    just the missing events are read and converted: within a batch most linked
    events are already in hand, and reading them again costs more than the lookup.
    """
    if not keys or not types:
        return []
    if not known:
        return events_from_rows(query(_LINKED, [key_list(keys), sorted(types)]), names)
    ids = {row[0] for row in query(_LINKED_IDS, [key_list(keys), sorted(types)])}
    return events_by_id(ids.difference(known), names)


def events_in_windows(
    windows: Collection[ServiceWindow], event_type: str, names: ServiceNames
) -> list[Event]:
    """The events of ``event_type`` (a deploy or incident type) of each (service,
    start, end), both ends included."""
    if not windows:
        return []
    raw = names.names_of({service for service, _, _ in windows})
    spans = [
        {"name": name, "lo": lo.isoformat(), "hi": hi.isoformat()}
        for service, lo, hi in windows
        for name in sorted(raw[service])
    ]
    rows = query(_IN_WINDOWS, [orjson.dumps(spans).decode(), [event_type]])
    return events_from_rows(rows, names)


class Pool:
    """Events loaded so far in one pass, indexed by ref key and service; each converted once."""

    def __init__(self) -> None:
        self.by_id: dict[int, Event] = {}
        self.keys: dict[int, frozenset[str]] = {}
        self.by_key: defaultdict[str, list[Event]] = defaultdict(list)
        # Per service, its events in (time, id) order and their times, for bisecting;
        # a service whose list grew is sorted again when next read.
        self.by_service: defaultdict[str, list[Event]] = defaultdict(list)
        self._service_times: dict[str, list[datetime]] = {}
        self.asked: set[str] = set()
        self.asked_types: set[str] = set()
        self.asked_windows: set[tuple[ServiceWindow, str]] = set()
        self._names: ServiceNames | None = None

    @property
    def names(self) -> ServiceNames:
        """The service name mappings, read once per pass."""
        if self._names is None:
            self._names = load_service_names()
        return self._names

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.id in self.by_id:
                continue
            self.by_id[event.id] = event
            # Kept per event: a pass asks for the same event's keys several times.
            keys = self.keys[event.id] = event_keys(event)
            for key in keys:
                self.by_key[key].append(event)
            if event.service is not None and event.type in SERVICE_TYPES:
                self.by_service[event.service].append(event)
                self._service_times.pop(event.service, None)

    def fetch_windows(self, windows: Collection[ServiceWindow], event_type: str) -> None:
        """Load the events of ``event_type`` in the windows not asked for yet."""
        new = {w for w in windows if (w, event_type) not in self.asked_windows}
        if new:
            self.asked_windows |= {(w, event_type) for w in new}
            self.add(events_in_windows(new, event_type, self.names))

    def fetch_incident_windows(self, windows: Collection[ServiceWindow]) -> None:
        """What the engine needs for deploy windows: their incidents, and the deploys
        of the windows that hold an incident. A window without one attributes
        nothing whatever its deploys, so they are not read (most windows)."""
        self.fetch_windows(windows, INCIDENT_TYPE)
        busy = [w for w in windows if self.in_windows([w], INCIDENT_TYPE)]
        self.fetch_windows(busy, DEPLOY_TYPE)

    def in_windows(
        self, windows: Iterable[ServiceWindow], event_type: str | None = None
    ) -> list[Event]:
        """The loaded deploys and incidents (or ``event_type`` only) of each (service,
        start, end), ends included."""
        found: list[Event] = []
        for service, lo, hi in windows:
            events = self.by_service.get(service)
            if not events:
                continue
            times = self._service_times.get(service)
            if times is None:
                events.sort(key=lambda e: (e.occurred_at, e.id))
                times = self._service_times[service] = [e.occurred_at for e in events]
            found += events[bisect_left(times, lo) : bisect_right(times, hi)]
        if event_type is not None:
            return [e for e in found if e.type == event_type]
        return found

    def fetch(self, keys: set[str], types: set[str]) -> None:
        """Load the events of ``types`` carrying ``keys`` that were not asked for yet."""
        fresh_types = types - self.asked_types
        if fresh_types:
            # Keys asked before were asked for other types only: ask again for these.
            if self.asked:
                self.add(
                    events_linked(
                        self.asked, fresh_types, known=self.by_id.keys(), names=self.names
                    )
                )
            self.asked_types |= fresh_types
        new = keys - self.asked
        if new:
            self.asked |= new
            self.add(
                events_linked(new, self.asked_types, known=self.by_id.keys(), names=self.names)
            )

    def linked(self, keys: Iterable[str]) -> list[Event]:
        found: dict[int, Event] = {}
        for key in keys:
            for event in self.by_key.get(key, ()):
                found[event.id] = event
        return list(found.values())


def result_keys(result: UnitResult) -> set[str]:
    return {_key(kind, value) for kind, values in result.refs.items() for value in values}


@dataclass
class Job:
    """One unit to evaluate: its compiled version, trigger and the keys to load events for."""

    compiled: CompiledDefinition
    trigger: Event
    keys: frozenset[str]
    result: UnitResult | None = None
    given: frozenset[int] = frozenset()
    windows: frozenset[ServiceWindow] = frozenset()


def evaluate_jobs(jobs: Sequence[Job], pool: Pool, now: datetime) -> None:
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
        pool.fetch_incident_windows(set().union(*(j.windows for j in todo)))
        again = []
        for job in todo:
            linked = pool.linked(job.keys)
            busy = [w for w in job.windows if pool.in_windows([w], INCIDENT_TYPE)]
            if busy:
                # Only windows holding an incident matter; leaving the others out keeps
                # the events given (and so the result) unchanged by deploys loaded for
                # other units.
                linked = list({e.id: e for e in (*linked, *pool.in_windows(busy))}.values())
            given = frozenset(e.id for e in linked)
            if job.result is not None and given == job.given:
                continue
            job.given = given
            job.result = evaluate_unit(job.compiled, job.trigger, linked, now)
            if job.result is None:
                continue
            gained = result_keys(job.result) - job.keys
            gained_windows = frozenset(job.result.windows) - job.windows
            if gained or gained_windows:
                job.keys |= gained
                job.windows |= gained_windows
                again.append(job)
        todo = again
