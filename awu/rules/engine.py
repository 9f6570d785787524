"""The scoring engine: a pure function from (definition, events, now) to units.

Every event of the definition's trigger type whose condition holds is the
trigger of exactly one unit. The unit's state at ``now`` follows from the set of
events alone, never from the order they arrived in:

* each requirement is met by the earliest linked matching event within
  ``within_days`` of the trigger (ties broken by id), or, for an aggregate, by
  the event whose running total first reaches ``at_least``; its ``carry`` ref
  kinds join the unit's refs, and later requirements and all disqualifiers link
  through the refs gathered so far;
* ``satisfied_at`` is the latest meeting time (the trigger time when nothing is
  required);
* ``voided`` when a linked matching disqualifier occurred in [trigger time,
  satisfied_at + survive_days] (while a requirement is unmet, up to the latest
  requirement deadline: the unit cannot be satisfied later than that); else
  ``expired`` when a requirement is unmet and its window has closed; else
  ``pending``; else ``completed`` at satisfied_at + survive_days.

A completed unit is worth its units, any other state 0; :func:`entry_delta`
turns a change of worth into the AwuEntry to append.

The worker's incremental path: a new event can change exactly the units whose
:attr:`UnitResult.refs` share a ref key with it (see :func:`ref_keys`), plus the
unit it triggers. Load the events linked to such a unit with
:func:`gather_unit_events` and call :func:`evaluate_unit`; the result equals what
:func:`evaluate` gives over the whole ledger. A unit with ``closes_at <= now``
needs re-evaluating when the clock passes it (the sweep).

An expression that fails on an event (a missing attribute, a wrong type) is
taken as not holding and recorded in ``UnitResult.warnings``; it never stops
the batch.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import cel

from awu.rules import incidents
from awu.rules.cel import CelError, CelProblem, event_map, program_for, uses_trigger
from awu.rules.spec import (
    MAX_WINDOW_HOURS,
    Attribution,
    Clause,
    DefinitionSpec,
    Event,
    RefKey,
    Refs,
    ScoringWarning,
    ServiceWindow,
    UnitResult,
    UnitState,
)

__all__ = [
    "CompiledDefinition",
    "compile_definition",
    "entry_delta",
    "evaluate",
    "evaluate_unit",
    "gather_unit_events",
    "ref_keys",
    "relevant_types",
]


@dataclass(frozen=True, slots=True, eq=False)
class _Expr:
    source: str
    program: cel.Program
    reads_trigger: bool
    # The keys of event/trigger the expression reads (None: it may read them
    # all). Converting a map into CEL costs more than evaluating it, so only
    # these keys are handed over.
    fields: frozenset[str] | None


_FIELD_USE = re.compile(r"\b(event|trigger)\b(?:\s*\.\s*([A-Za-z_]\w*))?")


def _fields_read(source: str) -> frozenset[str] | None:
    fields = set()
    for match in _FIELD_USE.finditer(source):
        if match.group(2) is None:
            return None  # the whole map is used (or the word is in a string): keep it all
        fields.add(match.group(2))
    return frozenset(fields)


@dataclass(frozen=True, slots=True)
class _CompiledClause:
    clause: Clause
    condition: _Expr | None
    total: _Expr | None
    within: timedelta


@dataclass(frozen=True, slots=True)
class CompiledDefinition:
    """A definition with every expression compiled; build it with :func:`compile_definition`."""

    spec: DefinitionSpec
    trigger_condition: _Expr | None
    requires: tuple[_CompiledClause, ...]
    disqualifiers: tuple[_CompiledClause, ...]
    units_literal: Decimal | None
    units_expr: _Expr | None
    survive: timedelta
    types: frozenset[str]
    clause_types: frozenset[str]


def window_hours_problem(hours: object) -> str | None:
    """What is wrong with a deploy-window length, or None (also used when saving)."""
    if isinstance(hours, bool) or not isinstance(hours, int):
        return "must be a whole number of hours"
    if not 0 < hours <= MAX_WINDOW_HOURS:
        return f"must be more than 0 and at most {MAX_WINDOW_HOURS} hours (30 days)"
    return None


def _compile_expr(source: str | None, where: str) -> _Expr | None:
    if source is None or not source.strip():
        return None
    try:
        program = program_for(source)
    except CelError as exc:
        problems = [CelProblem(f"{where}: {p.message}", p.line, p.column) for p in exc.problems]
        raise CelError(source, problems) from None
    return _Expr(
        source=source,
        program=program,
        reads_trigger=uses_trigger(program),
        fields=_fields_read(source),
    )


def _compile_clause(clause: Clause, where: str, *, requirement: bool) -> _CompiledClause:
    if requirement and clause.within_days < 0:
        raise ValueError(f"{where}.within_days must not be negative")
    if (clause.total is None) != (clause.at_least is None):
        raise ValueError(f"{where}: total and at_least go together")
    if clause.total is not None and not requirement:
        raise ValueError(f"{where}: only a requirement can have a total")
    return _CompiledClause(
        clause=clause,
        condition=_compile_expr(clause.condition, f"{where}.condition"),
        total=_compile_expr(clause.total, f"{where}.total"),
        within=timedelta(days=clause.within_days),
    )


def _literal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def compile_definition(spec: DefinitionSpec) -> CompiledDefinition:
    """Compile every expression of ``spec`` once.

    Raises :class:`awu.rules.cel.CelError` (positions included, messages
    prefixed with the field) for an expression that does not parse, and
    ``ValueError`` for an inconsistent spec (negative windows or units).
    """
    if spec.survive_days < 0:
        raise ValueError("survive_days must not be negative")
    requires = tuple(
        _compile_clause(c, f"requires[{i}]", requirement=True) for i, c in enumerate(spec.requires)
    )
    disqualifiers = tuple(
        _compile_clause(c, f"disqualifiers[{i}]", requirement=False)
        for i, c in enumerate(spec.disqualifiers)
    )
    units_literal = _literal(spec.units)
    if units_literal is not None and units_literal < 0:
        raise ValueError("units must not be negative")
    clause_types = frozenset(c.type for c in (*spec.requires, *spec.disqualifiers))
    if spec.incidents is not None:
        problem = window_hours_problem(spec.incidents.window_hours)
        if problem:
            raise ValueError(f"incidents.window_hours {problem}")
        clause_types |= incidents.TYPES
    return CompiledDefinition(
        spec=spec,
        trigger_condition=_compile_expr(spec.trigger_condition, "trigger_condition"),
        requires=requires,
        disqualifiers=disqualifiers,
        units_literal=units_literal,
        units_expr=None if units_literal is not None else _compile_expr(spec.units, "units"),
        survive=timedelta(days=spec.survive_days),
        types=clause_types | {spec.trigger_type},
        clause_types=clause_types,
    )


def relevant_types(compiled: CompiledDefinition) -> frozenset[str]:
    """The event types that can change this definition's units; all others are ignored."""
    return compiled.types


def ref_keys(refs: Refs) -> frozenset[RefKey]:
    """Every (kind, value) pair of ``refs``."""
    return frozenset((kind, value) for kind, values in refs.items() for value in values)


def entry_delta(previous_credit: Decimal, result: UnitResult) -> Decimal | None:
    """The AwuEntry amount to append so that entries sum to ``result.credit``.

    ``+units`` on completion, ``-units`` on a reversal, ``None`` when unchanged.
    """
    delta = result.credit - previous_credit
    return delta if delta != 0 else None


def _order(event: Event) -> tuple[datetime, int]:
    return (event.occurred_at, event.id)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class _Scope:
    """The events one evaluation may look at, indexed for link lookups, with
    each event's CEL value built once and expression results memoised."""

    def __init__(self, compiled: CompiledDefinition, events: Iterable[Event]) -> None:
        self.compiled = compiled
        by_id: dict[int, Event] = {}
        for event in events:
            if event.type in compiled.types:
                by_id.setdefault(event.id, event)  # a redelivery is the same event
        self.by_id = by_id
        self.index: defaultdict[tuple[str, str, str], list[Event]] = defaultdict(list)
        self.by_service: defaultdict[tuple[str, str], list[Event]] = defaultdict(list)
        clause_types = compiled.clause_types
        by_service = compiled.spec.incidents is not None
        # Sorted once, so every index list is in (occurred_at, id) order already.
        for event in sorted(by_id.values(), key=_order):
            if event.type in clause_types:
                for kind, values in event.refs.items():
                    for value in values:
                        self.index[(event.type, kind, value)].append(event)
                if by_service and event.service and event.type in incidents.SERVICE_TYPES:
                    self.by_service[(event.type, event.service)].append(event)
        self._maps: dict[tuple[int, frozenset[str] | None], dict[str, Any]] = {}
        self._contexts: dict[tuple[int, frozenset[str] | None], cel.Context] = {}
        self._pair_contexts: dict[tuple[int, frozenset[str] | None], cel.Context] = {}
        self._memo: dict[tuple[int, int], tuple[Any, str | None]] = {}

    def triggers(self) -> list[Event]:
        trigger_type = self.compiled.spec.trigger_type
        return sorted(
            (e for e in self.by_id.values() if e.type == trigger_type), key=lambda e: e.id
        )

    def candidates(
        self, event_type: str, link: tuple[str, ...], refs: Mapping[str, list[str]], exclude: int
    ) -> list[Event]:
        found: dict[int, Event] = {}
        for kind in link or tuple(refs):
            for value in refs.get(kind, ()):
                for event in self.index.get((event_type, kind, value), ()):
                    found[event.id] = event
        found.pop(exclude, None)
        if len(found) < 2:
            return list(found.values())
        return sorted(found.values(), key=_order)

    def linked(
        self, event_type: str, link: tuple[str, ...], refs: Mapping[str, list[str]]
    ) -> list[Event]:
        return self.candidates(event_type, link, refs, exclude=0)

    def of_service(self, event_type: str, service: str) -> list[Event]:
        return self.by_service.get((event_type, service), [])

    def _map(self, event: Event, fields: frozenset[str] | None) -> dict[str, Any]:
        key = (event.id, fields)
        value = self._maps.get(key)
        if value is None:
            full = event_map(event)
            value = full if fields is None else {f: full[f] for f in fields if f in full}
            self._maps[key] = value
        return value

    def _run(self, expr: _Expr, event: Event, trigger: Event) -> tuple[Any, str | None]:
        # A Context converts its variables once, which costs more than most
        # evaluations; so contexts are kept and reused rather than passing dicts.
        if expr.reads_trigger:
            # The trigger side is converted once per trigger; each candidate then
            # replaces only its own (small) map.
            key = (trigger.id, expr.fields)
            context = self._pair_contexts.get(key)
            if context is None:
                context = cel.Context(variables={"trigger": self._map(trigger, expr.fields)})
                self._pair_contexts[key] = context
            context.add_variable("event", self._map(event, expr.fields))
        else:
            key = (event.id, expr.fields)
            context = self._contexts.get(key)
            if context is None:
                context = cel.Context(variables={"event": self._map(event, expr.fields)})
                self._contexts[key] = context
        try:
            return expr.program.execute(context), None
        except KeyError as exc:  # the cel package's way of saying "no such key"
            return None, f"no such key: {exc.args[0] if exc.args else exc}"
        except Exception as exc:  # one bad event must not stop the batch
            return None, f"{type(exc).__name__}: {str(exc).split('. ', 1)[0]}"

    def value(self, expr: _Expr, event: Event, trigger: Event) -> tuple[Any, str | None]:
        if expr.reads_trigger:
            return self._run(expr, event, trigger)
        key = (id(expr), event.id)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self._run(expr, event, trigger)
        return hit

    def holds(
        self, expr: _Expr | None, event: Event, trigger: Event, warnings: list[ScoringWarning]
    ) -> bool:
        if expr is None:
            return True
        result, error = self.value(expr, event, trigger)
        if error is None and not isinstance(result, bool):
            error = f"condition gave {type(result).__name__}, not a bool"
        if error is not None:
            warnings.append(ScoringWarning(event.id, expr.source, error))
            return False
        return bool(result)

    def number(
        self, expr: _Expr, event: Event, trigger: Event, warnings: list[ScoringWarning]
    ) -> Decimal | None:
        result, error = self.value(expr, event, trigger)
        if error is None:
            amount = _decimal(result)
            if amount is None:
                error = f"expected a non-negative finite number, got {result!r}"
            else:
                return amount
        warnings.append(ScoringWarning(event.id, expr.source, error))
        return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    # repr() of a float is its shortest round-trip form: 0.1 stays 0.1.
    amount = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    return amount if amount >= 0 else None


def _meet(
    scope: _Scope,
    rc: _CompiledClause,
    trigger: Event,
    refs: Mapping[str, list[str]],
    warnings: list[ScoringWarning],
) -> tuple[list[Event], datetime] | None:
    """The events that meet requirement ``rc`` and when it is met, or None."""
    start = trigger.occurred_at
    end = start + rc.within
    clause = rc.clause
    running = Decimal(0)
    used: list[Event] = []
    for event in scope.candidates(clause.type, clause.link, refs, trigger.id):
        if event.occurred_at < start:
            continue
        if event.occurred_at > end:
            break  # candidates are in time order
        if not scope.holds(rc.condition, event, trigger, warnings):
            continue
        if rc.total is None:
            return [event], event.occurred_at
        amount = scope.number(rc.total, event, trigger, warnings)
        if amount is None:
            continue
        running += amount
        used.append(event)
        if clause.at_least is not None and running >= clause.at_least:
            return used, event.occurred_at
    return None


def _disqualifier(
    scope: _Scope,
    trigger: Event,
    refs: Mapping[str, list[str]],
    window_end: datetime,
    warnings: list[ScoringWarning],
) -> Event | None:
    first: Event | None = None
    for dc in scope.compiled.disqualifiers:
        clause = dc.clause
        for event in scope.candidates(clause.type, clause.link, refs, trigger.id):
            if first is not None and _order(event) >= _order(first):
                break
            if event.occurred_at < trigger.occurred_at:
                continue
            if event.occurred_at > window_end:
                break
            if scope.holds(dc.condition, event, trigger, warnings):
                first = event
                break
    return first


def _units(scope: _Scope, trigger: Event, warnings: list[ScoringWarning]) -> Decimal:
    compiled = scope.compiled
    if compiled.units_literal is not None:
        return compiled.units_literal
    assert compiled.units_expr is not None
    amount = scope.number(compiled.units_expr, trigger, trigger, warnings)
    return amount if amount is not None else Decimal(0)


def _score(
    scope: _Scope, trigger: Event, now: datetime, sink: list[ScoringWarning] | None
) -> UnitResult | None:
    compiled = scope.compiled
    spec = compiled.spec
    warnings: list[ScoringWarning] = []
    if not scope.holds(compiled.trigger_condition, trigger, trigger, warnings):
        if sink is not None:
            sink.extend(warnings)
        return None

    start = trigger.occurred_at
    refs: dict[str, list[str]] = {k: list(dict.fromkeys(v)) for k, v in trigger.refs.items()}
    evidence: list[int] = [trigger.id]
    met_at: list[datetime] = []
    unmet: list[tuple[Clause, datetime]] = []
    for rc in compiled.requires:
        met = _meet(scope, rc, trigger, refs, warnings)
        if met is None:
            unmet.append((rc.clause, start + rc.within))
            continue
        used, when = met
        met_at.append(when)
        for event in used:
            if event.id not in evidence:
                evidence.append(event.id)
            for kind in rc.clause.carry:
                known = refs.setdefault(kind, [])
                known.extend(v for v in event.refs.get(kind, ()) if v not in known)

    satisfied_at = None if unmet else max(met_at, default=start)
    if satisfied_at is not None:
        window_end = satisfied_at + compiled.survive
    else:
        window_end = max(start + rc.within for rc in compiled.requires)
    disqualifier = _disqualifier(scope, trigger, refs, window_end, warnings)
    attributions: tuple[Attribution, ...] = ()
    windows: tuple[ServiceWindow, ...] = ()
    how = ""
    if spec.incidents is not None:
        attributions, windows = incidents.attribute(
            spec.incidents, trigger, refs, scope.linked, scope.of_service
        )
        for a in attributions:
            if not a.voids or a.occurred_at > window_end:
                continue
            event = scope.by_id[a.event_id]
            if disqualifier is None or _order(event) < _order(disqualifier):
                disqualifier, how = event, f" via {a.method}"
            break  # in time order: the first voiding one is the earliest

    completed_at: datetime | None = None
    closes_at: datetime | None = None
    if disqualifier is not None:
        state = UnitState.VOIDED
        reason: str | None = f"voided by {disqualifier.type} (event {disqualifier.id}){how}"
        evidence.append(disqualifier.id)
    elif unmet:
        deadline = min(d for _, d in unmet)
        late = [(c, d) for c, d in unmet if now >= d]
        if late:
            state = UnitState.EXPIRED
            clause, due = late[0]
            reason = f"{clause.type} not seen by {_iso(due)}"
        else:
            state = UnitState.PENDING
            reason = f"waiting for {unmet[0][0].type}"
            closes_at = deadline
    else:
        assert satisfied_at is not None
        completes = satisfied_at + compiled.survive
        if now >= completes:
            state = UnitState.COMPLETED
            reason = None
            completed_at = completes
        else:
            state = UnitState.PENDING
            reason = f"survival window open until {_iso(completes)}"
            closes_at = completes

    units = _units(scope, trigger, warnings)
    return UnitResult(
        key=spec.key,
        version=spec.version,
        trigger_id=trigger.id,
        state=state,
        units=units,
        reason=reason,
        triggered_at=start,
        satisfied_at=satisfied_at,
        completed_at=completed_at,
        closes_at=closes_at,
        evidence=tuple(evidence),
        refs={k: tuple(v) for k, v in refs.items()},
        actor=trigger.actor,
        person_id=trigger.person_id,
        team_id=trigger.team_id,
        subject=trigger.subject,
        ai=trigger.ai,
        warnings=tuple(dict.fromkeys(warnings)),
        attributions=attributions,
        windows=windows,
    )


def evaluate(
    compiled: CompiledDefinition,
    events: Iterable[Event],
    now: datetime,
    *,
    warnings: list[ScoringWarning] | None = None,
) -> list[UnitResult]:
    """Every unit of ``compiled`` over ``events`` at ``now``, in trigger id order.

    Events of other types are ignored; an event given twice (same id) counts once.
    Expression failures on triggers whose condition therefore does not hold go
    to ``warnings`` when a list is given; the rest are on each result.
    """
    scope = _Scope(compiled, events)
    results = []
    for trigger in scope.triggers():
        result = _score(scope, trigger, now, warnings)
        if result is not None:
            results.append(result)
    return results


def evaluate_unit(
    compiled: CompiledDefinition,
    trigger: Event,
    linked_events: Iterable[Event],
    now: datetime,
    *,
    warnings: list[ScoringWarning] | None = None,
) -> UnitResult | None:
    """The unit ``trigger`` starts, from the events linked to it, at ``now``.

    ``linked_events`` must hold every event that shares a ref key with the
    unit's refs and, for each of its ``windows`` (service, start, end), every
    incident of that service in that span and, when there is one, every deploy
    of it there (a window without incidents attributes nothing); use
    :func:`gather_unit_events`. More does no harm. Returns
    None when ``trigger`` is not of the trigger type or its condition does not hold.
    """
    if trigger.type != compiled.spec.trigger_type:
        return None
    scope = _Scope(compiled, [trigger, *linked_events])
    return _score(scope, scope.by_id[trigger.id], now, warnings)


def trigger_holds(compiled: CompiledDefinition, trigger: Event) -> bool:
    """Whether ``trigger`` starts a unit of ``compiled``: its type, then its condition.

    The same test :func:`evaluate_unit` starts with, without scoring the unit; the
    condition reads the trigger alone, so no linked events are needed.
    """
    if trigger.type != compiled.spec.trigger_type:
        return False
    if compiled.trigger_condition is None:
        return True
    scope = _Scope(compiled, (trigger,))
    return scope.holds(compiled.trigger_condition, trigger, trigger, [])


def gather_unit_events(
    compiled: CompiledDefinition,
    trigger: Event,
    find: Callable[[Collection[RefKey]], Iterable[Event]],
    find_in_window: Callable[[ServiceWindow], Iterable[Event]] | None = None,
) -> list[Event]:
    """The events :func:`evaluate_unit` needs for ``trigger``.

    ``find(keys)`` returns the stored events that carry any of the (kind, value)
    keys (the worker runs one indexed query per call). Carried refs can link
    further events (a rollback naming only the deploy), so this asks again for
    the keys a met requirement adds, until nothing new is needed: at most one
    round per requirement, plus one. ``find_in_window((service, start, end))``
    returns the events of that service in that span; definitions with an
    incident rule need it for the deploy window.
    """
    loaded: dict[int, Event] = {}
    asked: set[RefKey] = set()
    asked_windows: set[ServiceWindow] = set()
    wanted = set(ref_keys(trigger.refs))
    wanted_windows: set[ServiceWindow] = set()
    while wanted - asked or wanted_windows - asked_windows:
        keys = wanted - asked
        asked |= keys
        found = list(find(keys)) if keys else []
        for window in wanted_windows - asked_windows:
            assert find_in_window is not None, "an incident rule needs find_in_window"
            found += find_in_window(window)
        asked_windows |= wanted_windows
        for event in found:
            if event.type in compiled.types:
                loaded.setdefault(event.id, event)
        result = evaluate_unit(compiled, trigger, loaded.values(), trigger.occurred_at)
        if result is None:
            return []
        wanted = set(ref_keys(result.refs))
        wanted_windows = set(result.windows)
    loaded.pop(trigger.id, None)
    return sorted(loaded.values(), key=lambda e: e.id)
