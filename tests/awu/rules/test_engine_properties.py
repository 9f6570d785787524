"""The result is a function of the set of events and the clock, never of arrival.

Random histories over a few PRs, deploys, tickets, deals and pieces of content
are delivered in any order, with redeliveries, in batches scored incrementally
the way the worker does it; the final units and the sum of entries must equal
one evaluation over the whole set.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from awu.definitions.defaults import DEFAULT_DEFINITIONS, content_drove_traffic
from awu.rules.engine import (
    CompiledDefinition,
    compile_definition,
    entry_delta,
    evaluate,
    evaluate_unit,
    gather_unit_events,
    ref_keys,
)
from awu.rules.incidents import DEPLOY_TYPE, SERVICE_TYPES
from awu.rules.spec import Event, RefKey, ServiceWindow, UnitResult
from tests.awu.rules.builders import day

# A low traffic threshold so that marketing units complete in short histories.
COMPILED = [compile_definition(d.spec) for d in DEFAULT_DEFINITIONS] + [
    compile_definition(content_drove_traffic(visits_at_least=Decimal(500)).spec)
]

PRS = ["acme/api#1", "acme/api#2", "acme/api#3"]
COMMITS = ["c1", "c2", "c3", "c4"]
DEPLOYS = ["d1", "d2", "d3"]
TICKETS = ["t1", "t2"]
DEALS = ["D1", "D2"]
CONTENT = ["blog/a", "blog/b"]
ENVELOPES = ["e1", "e2"]

some = st.lists
pick = st.sampled_from


@st.composite
def refs_and_attributes(draw: st.DrawFn, event_type: str) -> tuple[dict, dict]:
    commits = draw(some(pick(COMMITS), min_size=1, max_size=2, unique=True))
    environment = draw(
        st.sampled_from([{"environment": "production"}, {"environment": "staging"}, {}])
    )
    if event_type == "code.pr.merged":
        attrs = {
            "base_branch": draw(pick(["main", "main", "dev"])),
            "default_branch": "main",
            "draft": draw(st.booleans()) and draw(st.booleans()),
            "merged": True,
        }
        return {"pr": [draw(pick(PRS))], "commit": commits}, attrs
    if event_type in ("deploy.succeeded", "deploy.rolled_back"):
        refs: dict = {"deploy": [draw(pick(DEPLOYS))]}
        if event_type == "deploy.succeeded" or draw(st.booleans()):
            refs["commit"] = commits
        return refs, environment
    if event_type == "code.reverted":
        return draw(pick([{"commit": commits}, {"pr": [draw(pick(PRS))]}])), {}
    if event_type == "incident.attributed":
        refs = {"incident": ["P1"]}
        for kind, pool in (("pr", PRS), ("commit", COMMITS), ("deploy", DEPLOYS)):
            if draw(st.booleans()):
                refs[kind] = [draw(pick(pool))]
        return refs, {}
    if event_type in ("ticket.resolved", "ticket.reopened"):
        return {"ticket": [draw(pick(TICKETS))]}, {}
    if event_type == "crm.opportunity.stage_changed":
        from_order, to_order = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        attrs = {
            "from_stage": f"s{from_order}",
            "to_stage": f"s{to_order}",
            "from_order": from_order,
            "to_order": to_order,
            "won": draw(st.booleans()) and draw(st.booleans()),
            "lost": draw(st.booleans()) and draw(st.booleans()),
        }
        return {"deal": [draw(pick(DEALS))]}, attrs
    if event_type == "content.published":
        return {"content": [draw(pick(CONTENT))]}, {"url": "https://example.com/x"}
    if event_type == "content.traffic":
        return {"content": [draw(pick(CONTENT))]}, {"visits": draw(st.integers(0, 400))}
    if event_type == "content.unpublished":
        return {"content": [draw(pick(CONTENT))]}, {"reason": "retracted"}
    if event_type in ("contract.signed", "contract.cancelled"):
        return {"envelope": [draw(pick(ENVELOPES))]}, {}
    # Usage-like noise sharing refs with the work.
    return {"commit": commits, "pr": [draw(pick(PRS))], "session": ["s1"]}, {"tokens": 1000}


# Each history leans on one domain so that links, windows and disqualifiers
# actually meet; "mixed" keeps cross-domain noise in play.
DOMAIN_TYPES = {
    "engineering": [
        "code.pr.merged",
        "code.pr.merged",
        "deploy.succeeded",
        "deploy.succeeded",
        "deploy.rolled_back",
        "code.reverted",
        "incident.attributed",
        "incident.opened",
        "incident.opened",
    ],
    "sales": ["crm.opportunity.stage_changed"],
    "support": ["ticket.resolved", "ticket.resolved", "ticket.reopened"],
    "marketing": [
        "content.published",
        "content.traffic",
        "content.traffic",
        "content.traffic",
        "content.unpublished",
    ],
    "legal": ["contract.signed", "contract.signed", "contract.cancelled"],
}
DOMAIN_TYPES["mixed"] = [
    *(t for types in DOMAIN_TYPES.values() for t in types),
    "x.token_usage",
]


SERVICES = ["api", "api", "web", None]


@st.composite
def histories(
    draw: st.DrawFn, types: list[str] | None = None, first_id: int = 1, services: bool = True
) -> list[Event]:
    pool = types or DOMAIN_TYPES[draw(pick(sorted(DOMAIN_TYPES)))]
    events = []
    for offset in range(draw(st.integers(1, 24))):
        event_type = draw(pick(pool))
        refs, attributes = draw(refs_and_attributes(event_type))
        events.append(
            Event(
                id=first_id + offset,
                type=event_type,
                # Quarter days over seven weeks: plenty of ties and window edges.
                occurred_at=day(draw(st.integers(0, 200)) / 4),
                refs={k: tuple(v) for k, v in refs.items()},
                attributes=attributes,
                actor=draw(pick(["alice@example.com", "github:bob", None])),
                person_id=None,
                team_id=None,
                subject=None,
                ai=draw(pick([None, {"assisted": True, "share": 0.5, "agent": "claude-code"}])),
                service=draw(pick(SERVICES))
                if services and event_type in (*SERVICE_TYPES, "deploy.rolled_back")
                else None,
            )
        )
    return events


class Worker:
    """What the Celery scorer does, minus the database: a store of seen events,
    each unit's last result and credited sum, and the entries appended."""

    def __init__(self, compiled: CompiledDefinition) -> None:
        self.compiled = compiled
        self.store: dict[int, Event] = {}
        self.by_key: defaultdict[RefKey, set[int]] = defaultdict(set)
        self.units: dict[int, UnitResult] = {}
        self.credited: defaultdict[int, Decimal] = defaultdict(Decimal)
        self.entries: list[Decimal] = []

    def find(self, keys: Collection[RefKey]) -> list[Event]:
        ids = set().union(*(self.by_key.get(k, set()) for k in keys))
        return [self.store[i] for i in sorted(ids)]

    def in_window(self, window: ServiceWindow) -> list[Event]:
        service, start, end = window
        return [
            e
            for e in self.store.values()
            if e.service == service and e.type in SERVICE_TYPES and start <= e.occurred_at <= end
        ]

    def rescore(self, trigger_id: int, now: datetime) -> None:
        trigger = self.store[trigger_id]
        linked = gather_unit_events(self.compiled, trigger, self.find, self.in_window)
        result = evaluate_unit(self.compiled, trigger, linked, now)
        if result is None:
            return
        delta = entry_delta(self.credited[trigger_id], result)
        if delta is not None:
            self.entries.append(delta)
            self.credited[trigger_id] += delta
        self.units[trigger_id] = result

    def receive(self, batch: list[Event], now: datetime) -> None:
        new = {e.id: e for e in batch if e.id not in self.store}
        keys: set[RefKey] = set()
        for event in new.values():
            self.store[event.id] = event
            for key in ref_keys(event.refs):
                self.by_key[key].add(event.id)
            if event.type in self.compiled.types:
                keys |= ref_keys(event.refs)
            rule = self.compiled.spec.incidents
            if rule is not None and event.service and event.type in SERVICE_TYPES:
                # What the pipeline does: the deploys of the service in the window
                # before the event link (by their deploy refs) to the units it can
                # change, attributing an incident or taking over from an earlier deploy.
                start = event.occurred_at - timedelta(hours=rule.window_hours)
                for deploy in self.in_window((event.service, start, event.occurred_at)):
                    if deploy.type == DEPLOY_TYPE:
                        keys |= {("deploy", v) for v in deploy.refs.get("deploy", ())}
        affected = {i for i, e in new.items() if e.type == self.compiled.spec.trigger_type}
        affected |= {i for i, unit in self.units.items() if ref_keys(unit.refs) & keys}
        for trigger_id in sorted(affected):
            self.rescore(trigger_id, now)
        self.sweep(now)

    def sweep(self, now: datetime) -> None:
        for trigger_id, unit in sorted(self.units.items()):
            if unit.closes_at is not None and unit.closes_at <= now:
                self.rescore(trigger_id, now)


@given(
    events=histories(),
    extra=st.lists(st.integers(0, 10_000), max_size=12),
    cuts=st.lists(st.integers(0, 60), max_size=5),
    steps=st.lists(st.integers(0, 40 * 24), min_size=6, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=200, deadline=None)
def test_incremental_scoring_in_any_order_and_batching_equals_one_evaluation(
    events: list[Event], extra: list[int], cuts: list[int], steps: list[int], seed: int
) -> None:
    deliveries = events + [events[i % len(events)] for i in extra]
    random.Random(seed).shuffle(deliveries)
    bounds = sorted({0, len(deliveries), *(c % (len(deliveries) + 1) for c in cuts)})
    batches = [deliveries[a:b] for a, b in pairwise(bounds)]
    clocks, now = [], day(-1)
    for hours in steps[: len(batches)]:
        now += timedelta(hours=hours)
        clocks.append(now)
    final = now + timedelta(hours=steps[-1] * 4)

    for compiled in COMPILED:
        worker = Worker(compiled)
        for batch, clock in zip(batches, clocks, strict=True):
            worker.receive(batch, clock)
        worker.sweep(final)

        expected = evaluate(compiled, events, final)
        assert sorted(worker.units.values(), key=lambda u: u.trigger_id) == expected
        assert sum(worker.entries, Decimal(0)) == sum((u.credit for u in expected), Decimal(0))


NOISE_TYPES = ["x.token_usage", "x.claude_code.session", "incident.opened", "deploy.failed"]


# Incidents without a service (and naming no change) are attributed to nothing.
@given(events=histories(), noise=histories(types=NOISE_TYPES, first_id=1000, services=False))
@settings(max_examples=80, deadline=None)
def test_usage_and_other_unused_events_never_change_units(
    events: list[Event], noise: list[Event]
) -> None:
    now = day(90)
    for compiled in COMPILED:
        assert evaluate(compiled, events + noise, now) == evaluate(compiled, events, now)


@given(events=histories(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_evaluation_ignores_the_order_of_the_event_list(events: list[Event], seed: int) -> None:
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    for compiled in COMPILED:
        assert evaluate(compiled, shuffled, day(45)) == evaluate(compiled, events, day(45))
