"""The scoring pipeline: the ORM glue around the pure engine (awu.rules.engine).

:func:`score_pending` consumes the transactional outbox, :func:`sweep` settles
units whose windows time has closed, :func:`definition_rescore` replays history
into a new version. All three settle units the same way
(:func:`awu.scoring.settle.settle_units`); the events come from
:mod:`awu.scoring.evidence` and the published rules from
:mod:`awu.scoring.published`.

Finding the units an event can change: the batch's own triggers, the live units
whose stored ``ref_keys`` overlap the event's, and the triggers reached by
walking the ledger's refs backwards (event -> carrying requirement -> trigger).
The walk reads committed events only, so it also finds a unit that another
worker is creating or extending right now, whose row this transaction cannot
see yet: without it a disqualifier arriving in that instant could be missed.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Min, Q

from awu.definitions import approvals
from awu.definitions import services as definitions
from awu.definitions.models import BEGINNING_OF_TIME, ChangeRequest, Definition, DefinitionVersion
from awu.rules.incidents import DEPLOY_TYPE, INCIDENT_TYPE, SERVICE_TYPES
from awu.rules.spec import Event, ServiceWindow
from awu.scoring.evidence import (
    WALK,
    Pool,
    events_by_id,
    from_micros,
    key_list,
    prefer_indexes,
    query,
)
from awu.scoring.models import WorkUnit
from awu.scoring.published import Catalog, load_catalog
from awu.scoring.settle import UnitKey, settle_units
from ledger import audit

logger = logging.getLogger(__name__)


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


# --- Finding the units a batch of events can change --------------------------------


def _affected(
    batch: Sequence[Event], catalog: Catalog, pool: Pool
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
    batch_types_by_key: defaultdict[str, set[str]] = defaultdict(set)
    for event in batch:
        for key in pool.keys[event.id]:
            batch_types_by_key[key].add(event.type)
    for key, event_type in _deploys_before(batch, catalog, pool):
        batch_keys.add(key)
        batch_types_by_key[key].add(event_type)

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
        rows = query(WALK, [key_list(keys), sorted(types)])
        following: defaultdict[str, set[int]] = defaultdict(set)
        for event_id, event_type, micros, row_keys in rows:
            shared = [k for k in row_keys if k in keys]
            definitions = set().union(*(frontier[k] for k in shared))
            for definition_id in definitions:
                if (
                    event_type in catalog.trigger_definitions
                    and definition_id in (catalog.trigger_definitions[event_type])
                ):
                    triggers[(definition_id, event_id)] = from_micros(micros)
                carried = catalog.carries.get(definition_id, {}).get(event_type)
                if carried and any(k.split(":", 1)[0] in carried for k in shared):
                    for k in row_keys:
                        following[k].add(definition_id)
        frontier = following

    # Live units: of these triggers (any version), or sharing a key with the batch.
    trigger_ids = sorted({t for _, t in triggers})
    rows = query(
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
        [trigger_ids, key_list(batch_keys)],
    )
    targets: set[UnitKey] = set()
    existing: set[UnitKey] = set()
    has_unit: set[tuple[int, int]] = set()
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


def _deploys_before(batch: Sequence[Event], catalog: Catalog, pool: Pool) -> set[tuple[str, str]]:
    """(deploy key, event type) for the deploys of each batch incident's or
    deploy's service in the deploy window before it: their units are the ones it
    can change.

    An incident goes to the latest of them. A new deploy takes the blame over
    from them only for incidents after it, so a deploy with no incident of its
    service in the window after it changes none of them (the common case: no
    extra units to score, and only the incident lookup). Two queries at most.
    """
    hours = catalog.incident_window_hours
    if not hours:
        return set()
    window = timedelta(hours=hours)
    after: dict[int, ServiceWindow] = {}
    before: dict[int, ServiceWindow] = {}
    served = []
    for e in batch:
        if e.service is not None and e.type in SERVICE_TYPES:
            served.append(e)
            after[e.id] = (e.service, e.occurred_at, e.occurred_at + window)
            before[e.id] = (e.service, e.occurred_at - window, e.occurred_at)
    pool.fetch_windows([after[e.id] for e in served if e.type == DEPLOY_TYPE], INCIDENT_TYPE)
    for e in served:
        if e.type == DEPLOY_TYPE and not pool.in_windows([after[e.id]], INCIDENT_TYPE):
            del before[e.id]
    pool.fetch_windows(list(before.values()), DEPLOY_TYPE)
    found: set[tuple[str, str]] = set()
    for event in served:
        if event.id in before:
            for deploy in pool.in_windows([before[event.id]], DEPLOY_TYPE):
                found |= {(f"deploy:{v}", event.type) for v in deploy.refs.get("deploy", ())}
    return found


# --- Services -------------------------------------------------------------------------


# Events claimed per outbox pass. A pass has a fixed cost (the catalog, the
# attribution lookups, the ref walk's rounds, the commit) besides its per-event
# work: 2,000 drains ~28% faster than 1,000 on the benchmark's history, and a
# trickle still makes small passes.
BATCH_SIZE = 2000

# How many outbox rows (one per write, ledger.models.EventOutbox) hold the first
# ``batch_size`` waiting events, read without locks, so the claim below locks that many
# rows and not the backlog. SKIP LOCKED passes over rows another worker holds and
# takes the next ones instead; when those are larger the pass splits its last row.
_ROWS_FOR = """
SELECT count(*) FROM (
    SELECT sum(cardinality(event_ids)) OVER (ORDER BY id) - cardinality(event_ids) AS before
    FROM (SELECT id, event_ids FROM ledger_eventoutbox ORDER BY id LIMIT %s) head
) counted WHERE before < %s
"""

_CLAIM = """
SELECT id, event_ids FROM ledger_eventoutbox ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""


@dataclass
class _Claim:
    events: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # consumed whole: deleted
    rest: tuple[int, list[int]] | None = None  # (row, events left in it): written back


def _claim(batch_size: int) -> _Claim:
    """Lock outbox rows in id order until they hold ``batch_size`` events."""
    out = _Claim()
    ((rows,),) = query(_ROWS_FOR, [batch_size, batch_size])
    if not rows:
        return out
    for row_id, ids in query(_CLAIM, [rows]):
        room = batch_size - len(out.events)
        if room <= 0:
            break  # locked but untouched: released with the transaction
        ids = sorted(ids)
        if len(ids) > room:
            out.events += ids[:room]
            out.rest = (row_id, ids[room:])
            break
        out.events += ids
        out.rows.append(row_id)
    return out


def score_pending(*, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Score one batch of unscored events from the outbox; returns how many were claimed.

    One transaction: claim outbox rows holding up to ``batch_size`` events (SKIP
    LOCKED, so any number of workers share the work), settle every unit they can
    change at ``now``, delete the rows consumed and write back the rest of a row
    the pass ended inside. A crash rolls everything back and leaves the rows for
    the next run. Returns 0 when the outbox is empty.
    """
    with transaction.atomic():
        prefer_indexes()
        _commit_without_flush()
        claim = _claim(batch_size)
        if not claim.events:
            return 0
        catalog = load_catalog()
        pool = Pool()
        # An event queued twice (stored, then queued again by a service mapping)
        # is scored once per pass: scoring it again later changes nothing.
        batch = events_by_id(sorted(set(claim.events)), pool.names)
        pool.add(batch)
        targets, existing = _affected(batch, catalog, pool)
        settle_units(targets, catalog=catalog, now=now, pool=pool, existing=existing)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ledger_eventoutbox WHERE id = ANY(%s)", [claim.rows])
            if claim.rest:
                cursor.execute(
                    "UPDATE ledger_eventoutbox SET event_ids = %s WHERE id = %s",
                    [claim.rest[1], claim.rest[0]],
                )
    return len(claim.events)


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
            stats = settle_units(
                targets, catalog=load_catalog(), now=now, pool=Pool(), existing=targets
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
            for r in query(
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
    reason: str = "",
    approval: ChangeRequest | None = None,
) -> RescoreResult:
    """Replay ``definition`` over history into a new published version.

    Publishes a copy of the latest version (or the latest version itself when
    it is a draft) covering triggers from ``covers_from`` (default: the earliest
    event), marks the older versions' units triggered from then on as
    superseded (their AwuEntries are never touched), then scores every trigger
    since ``covers_from`` in batches, each its own transaction. ``progress`` is
    called with the number of triggers done after each batch. Raises
    :class:`awu.definitions.services.InvalidVersion` when the rules have problems.
    Audited: requested (before anything changes), started (with the publication),
    finished (with the counts); a run that fails between shows no "finished".

    When the domain requires approval (awu.definitions.approvals) it runs only
    with ``approval``, an approved rescore request not yet run: its version is
    replayed from its ``covers_from``, the request is marked run in the
    transaction that publishes, and "requested" was recorded when it was
    proposed. Without one it raises
    :class:`~awu.definitions.approvals.ApprovalRequired`.
    """
    if approval is not None:
        approval = approvals.rescore_request_for_run(request_id=approval.pk, definition=definition)
        start = approval.covers_from or covers_from or earliest_event_time()
        latest = approval.version
    else:
        if approvals.approval_required(definition.domain):
            raise approvals.ApprovalRequired(
                f"the {definition.domain} domain requires approval for a rescore of "
                f"{definition.key}: request one (the admin's definition page, or rescore "
                f"{definition.key} --propose --as USERNAME), have someone outside the owning "
                "team approve it, then run rescore --request ID"
            )
        start = covers_from or earliest_event_time()
        found = definition.versions.order_by("-version").first()
        if found is None:
            raise definitions.DefinitionError(f"{definition} has no version to rescore")
        latest = found
    audited: dict[str, Any] = {
        "object_type": "definition",
        "object_id": definition.pk,
        "reason": reason,
    }
    if approval is None:
        audit.record(
            "rescore.requested",
            **audited,
            label=definition.key,
            after={"covers_from": start, "from_version": latest.version},
        )
    with transaction.atomic():
        if approval is not None:
            # Once: a second run needs a new request (the row lock orders two runs).
            claimed = ChangeRequest.objects.filter(pk=approval.pk, executed_at__isnull=True).update(
                executed_at=now
            )
            if not claimed:
                raise definitions.DefinitionError(f"rescore request #{approval.pk} already ran")
            latest.refresh_from_db()
        draft = (
            latest
            if not latest.is_published
            else definitions.version_draft_from(version=latest, note="rescore")
        )
        if not draft.note:
            draft.note = "rescore"
        published = definitions.definition_publish(
            version=draft, now=now, covers_from=start, approval=approval
        )
        superseded = (
            WorkUnit.objects.filter(
                version__definition=definition,
                triggered_at__gte=start,
                superseded_at__isnull=True,
            )
            .filter(~Q(version=published))
            .update(superseded_at=now, superseded_by=published)
        )
        audit.record(
            "rescore.started",
            **audited,
            label=f"{definition.key} v{published.version}",
            after={
                "version": published.version,
                "covers_from": start,
                "superseded": superseded,
                **({"request": approval.pk} if approval is not None else {}),
            },
        )
    result = RescoreResult(version=published, covers_from=start, superseded=superseded)
    for ids in _trigger_ids(published.trigger_type, start, batch_size):
        with transaction.atomic():
            catalog = load_catalog()
            stats = settle_units(
                [(published.pk, t) for t in ids], catalog=catalog, now=now, pool=Pool()
            )
        result.triggers += len(ids)
        result.units += stats.units
        result.entries += stats.entries
        if progress is not None:
            progress(len(ids))
    result.completed = WorkUnit.objects.filter(
        version=published, state=WorkUnit.State.COMPLETED
    ).count()
    audit.record(
        "rescore.finished",
        **audited,
        label=f"{definition.key} v{published.version}",
        after={
            "version": published.version,
            "triggers": result.triggers,
            "units": result.units,
            "completed": result.completed,
            "entries": result.entries,
            "superseded": superseded,
        },
    )
    return result
