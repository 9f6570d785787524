"""The plain data the scoring engine reads and writes.

Nothing here knows about the ORM: the worker, the rescore command and the admin
preview all build these values from ledger rows and hand them to
:mod:`awu.rules.engine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

# A ref kind and one of its values, e.g. ("commit", "9f1c2e7"). Two events are
# linked when they share one.
RefKey = tuple[str, str]
Refs = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Event:
    """One work event as the engine sees it.

    ``id`` is the ledger id (unique); ``occurred_at`` is aware and in UTC.
    ``refs`` maps a ref kind to its values. ``ai`` is the event's ``ai`` object
    (``{"assisted": bool, "share": 0..1, "agent": str}``) or ``None``.
    """

    id: int
    type: str
    occurred_at: datetime
    refs: Refs = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None
    person_id: int | None = None
    team_id: int | None = None
    subject: str | None = None
    ai: Mapping[str, Any] | None = None
    # The service the event is about, as the deploy tool names it: the
    # ``service`` attribute, mapped per source where tools name services
    # differently (the pipeline resolves it; None when the event names none).
    service: str | None = None


@dataclass(frozen=True, slots=True)
class Clause:
    """A requirement or a disqualifier of a definition.

    ``condition`` is CEL over ``event`` (the candidate) and ``trigger``. ``link``
    names the ref kinds through which the candidate must share a value with the
    unit; empty means any kind.

    Only requirements use the rest: the candidate must occur within
    ``within_days`` of the trigger; ``carry`` names ref kinds of the matched event
    that join the unit's refs (so a rollback of *that* deploy links); ``total``
    (CEL over ``event`` giving a number) with ``at_least`` makes the requirement an
    aggregate, met at the event whose running total first reaches the threshold.
    """

    type: str
    condition: str | None = None
    link: tuple[str, ...] = ()
    within_days: int = 0
    carry: tuple[str, ...] = ()
    total: str | None = None
    at_least: Decimal | None = None


class Method(StrEnum):
    """How an incident was attributed to a change."""

    EXPLICIT = "explicit"  # the incident names the change (incident.attributed refs)
    DEPLOY_WINDOW = "deploy-window"  # it opened on the service soon after the deploy


class Voids(StrEnum):
    """Which attributions void a unit (every one is reported either way)."""

    NONE = "none"
    EXPLICIT = "explicit"
    SOLE = "sole"  # explicit ones, and deploy-window ones when the deploy held one change
    ALL = "all"


MAX_WINDOW_HOURS = 30 * 24


@dataclass(frozen=True, slots=True)
class IncidentRule:
    """Attribute incidents to the unit's change, explicitly or by deploy window.

    Explicit: an ``incident.attributed`` linked to the unit by ``commit``, ``pr``
    or ``deploy`` that names this change (its PR or a commit of it; one naming
    only a deploy names every change in it). Deploy window: an
    ``incident.opened`` on service S within ``window_hours`` after a production
    ``deploy.succeeded`` of S that the unit carries, when no later production
    deploy of S came before the incident (the latest deploy wins); the deploy's
    changes are its ``commit`` refs, several making the attribution shared.
    ``voids`` says which attributions void the unit inside its window.
    """

    window_hours: int = 24
    voids: Voids = Voids.SOLE


@dataclass(frozen=True, slots=True)
class Attribution:
    """One incident attributed to a unit.

    ``incident`` is the incident's key (``incident:<ref>``, else ``event:<id>``);
    ``event_id`` the event that attributes it; ``deploy_id`` the deploy event
    (deploy window only); ``shared`` when the deploy held several changes.
    """

    incident: str
    event_id: int
    method: Method
    occurred_at: datetime
    deploy_id: int | None
    shared: bool
    voids: bool


# A service and a time span: the unit needs every incident and deploy of that
# service in it (see :func:`awu.rules.engine.evaluate_unit`).
ServiceWindow = tuple[str, datetime, datetime]


@dataclass(frozen=True, slots=True)
class DefinitionSpec:
    """One version of an AWU definition, as plain data.

    ``units`` is a number literal or CEL over ``event`` (the trigger) that must
    give a non-negative finite number. Attribution is the trigger's actor, person
    and team.
    """

    key: str
    version: int
    domain: str
    trigger_type: str
    trigger_condition: str | None = None
    requires: tuple[Clause, ...] = ()
    survive_days: int = 0
    disqualifiers: tuple[Clause, ...] = ()
    units: str = "1"
    incidents: IncidentRule | None = None


class UnitState(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ScoringWarning:
    """An expression that could not be evaluated on an event (missing attribute,
    wrong type); the engine treated the condition as not holding."""

    event_id: int
    expression: str
    message: str


@dataclass(frozen=True, slots=True)
class UnitResult:
    """The state of one unit (definition key + version + trigger) at a time.

    ``units`` is what the unit is worth once completed; :attr:`credit` is what it
    is worth now. ``refs`` are the trigger's refs plus those carried in from met
    requirements: a new event sharing any of them may change this unit.
    ``closes_at`` is when the state may next change by time alone (``None`` when
    only new events can change it). ``evidence`` lists event ids in order:
    trigger, requirement events, disqualifier. ``attributions`` are the incidents
    attributed to the unit (by incident key); ``windows`` the service spans whose
    incidents and deploys the unit reads, like ``refs`` for the deploy window.
    """

    key: str
    version: int
    trigger_id: int
    state: UnitState
    units: Decimal
    reason: str | None
    triggered_at: datetime
    satisfied_at: datetime | None
    completed_at: datetime | None
    closes_at: datetime | None
    evidence: tuple[int, ...]
    refs: Refs
    actor: str | None
    person_id: int | None
    team_id: int | None
    subject: str | None
    ai: Mapping[str, Any] | None
    warnings: tuple[ScoringWarning, ...] = ()
    attributions: tuple[Attribution, ...] = ()
    windows: tuple[ServiceWindow, ...] = ()

    @property
    def credit(self) -> Decimal:
        return self.units if self.state is UnitState.COMPLETED else Decimal(0)
