"""as_of=T answers exactly what the report said at T, whatever was learnt since.

The scoring services run for real (no worker) with the clock pinned: every record
is stamped by the one clock, so "at T" is a moment of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awu.definitions.services import definitions_install_defaults
from awu.scoring import services
from awu.scoring.models import UnitTransition, WorkUnit
from ledger import directory
from ledger.ingest import events_ingest, usage_ingest
from ledger.models import CostAdjustment, Membership, Person, Team, TokenUsage
from tests.conftest import Api
from tests.e2e import stories

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = T + timedelta(days=45)
ACTORS = ("alice@example.com", "bob@example.com", "laptop-7")
# Day-aligned periods read the rollups, others the raw facts; as_of always the raw.
QUERIES: list[dict[str, str]] = [
    {"from": "2026-09-01", "to": "2026-12-31"},
    {"from": "2026-09-01", "to": "2026-12-31", "group_by": "team"},
    {"from": "2026-09-01", "to": "2026-12-31", "group_by": "person"},
    {"from": "2026-09-01", "to": "2026-12-31", "group_by": "team,month", "basis": "completed"},
    {"from": "2026-09-01T06:00:00Z", "to": "2026-12-31T00:00:00Z", "group_by": "domain"},
]
REPORTS = ("/api/v1/reports/efficiency", "/api/v1/reports/spend-deciles")


@pytest.fixture
def reader(api: Callable[..., Api]) -> Api:
    return api("reports:read")


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    with override_settings(AWU_NOW=moment.isoformat().replace("+00:00", "Z")):
        yield


def ingest(events: list[dict[str, Any]], now: datetime) -> None:
    results = events_ingest(items=events, now=now)
    assert {r.status for r in results} <= {"created", "duplicate"}, results


def score(now: datetime) -> None:
    services.outbox_drain(clock=lambda: now)
    services.sweep(now=now)


def answers(reader: Api, **extra: str) -> list[bytes]:
    """Every report of QUERIES, as the bytes served (the one field naming where the
    numbers were read from, rollups or raw, aside)."""
    out = []
    for url in REPORTS:
        for params in QUERIES:
            if url.endswith("deciles") and "group_by" in params:
                continue
            response = reader.get(url, {**params, **extra})
            assert response.status_code == 200, response.content
            out.append(response.content.replace(b'"source":"rollups"', b'"source":"raw"'))
    return out


def test_a_unit_completed_then_voided_after_t_reads_as_completed_at_t(reader: Api) -> None:
    definitions_install_defaults(now=T - timedelta(days=400))
    ingest(stories.durable_change("a", T - timedelta(days=60)), T - timedelta(days=59))
    with clock_at(T):
        score(T)
        before = answers(reader)
    [unit] = WorkUnit.objects.all()
    assert unit.state == "completed"

    revert = stories.durable_change("a", T - timedelta(days=60), disqualifier="revert")[-1]
    ingest([revert], LATER)
    with clock_at(LATER):
        score(LATER)
        unit.refresh_from_db()
        assert unit.state == "voided"
        assert answers(reader, as_of=T.isoformat()) == before
    states = list(UnitTransition.objects.filter(unit=unit).values_list("state", flat=True))
    assert states == ["completed", "voided"]


def test_unit_transitions_are_append_only() -> None:
    definitions_install_defaults(now=T - timedelta(days=400))
    ingest(stories.durable_change("a", T - timedelta(days=60)), T)
    score(T)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        UnitTransition.objects.update(state="voided")


# --- The property -------------------------------------------------------------------------

story = st.fixed_dictionaries(
    {
        "actor": st.sampled_from(ACTORS),
        "days_ago": st.integers(min_value=2, max_value=80),
        "deploy": st.booleans(),
        "ai": st.sampled_from([None, 0.0, 0.8]),
    }
)
late_change = st.one_of(
    st.tuples(st.just("event"), story),
    st.tuples(st.just("disqualifier"), st.integers(0, 5), st.sampled_from(["revert", "rollback"])),
    st.tuples(st.just("remap"), st.sampled_from(ACTORS), st.sampled_from(["ann", "ben"])),
    st.tuples(st.just("move"), st.sampled_from(["ann", "ben"]), st.integers(1, 90)),
    st.tuples(st.just("reprice"), st.integers(0, 5), st.integers(-50, 50)),
    st.tuples(st.just("usage"), st.sampled_from(ACTORS), st.integers(1, 90)),
    st.tuples(
        st.just("quality"),
        st.integers(0, 5),
        st.sampled_from(["incident.attributed", "issue.bug_reported", "code.review.submitted"]),
    ),
)


def _usage(tag: str, actor: str, at: datetime, pr: str | None) -> dict[str, Any]:
    return {
        "source": "llm-gateway",
        "id": f"u-{tag}",
        "occurred_at": at.isoformat(),
        "actor": actor,
        "provider": "anthropic",
        "model": "claude-opus-4-5",
        "input_tokens": 1000,
        "output_tokens": 100,
        "cost_usd": "1.25",
        "refs": {"pr": [pr]} if pr else {},
    }


def _story_events(tag: str, s: dict[str, Any]) -> list[dict[str, Any]]:
    merged = T - timedelta(days=s["days_ago"])
    requested = {
        "source": stories.SOURCE,
        "id": f"{tag}-review-requested",
        "type": "code.review.requested",
        "occurred_at": (merged - timedelta(hours=30)).isoformat(),
        "refs": {"pr": [f"acme/api#{tag}"]},
        "attributes": {"reviewer": "octocat"},
    }
    change = stories.durable_change(
        tag, merged, deploy_after=1 if s["deploy"] else None, actor=s["actor"], ai_share=s["ai"]
    )
    return [requested, *change]


def _directory() -> dict[str, Person]:
    people = {n: Person.objects.create(name=n, email=f"{n}@example.com") for n in ("ann", "ben")}
    teams = {
        slug: Team.objects.create(slug=slug, name=slug, domain="engineering")
        for slug in ("payments", "search")
    }
    directory.identity_map(value="alice@example.com", person=people["ann"])
    directory.identity_map(value="bob@example.com", person=people["ben"])
    directory.membership_start(person=people["ann"], team=teams["payments"])
    directory.membership_start(person=people["ben"], team=teams["search"])
    return people


def _apply(change: tuple[Any, ...], n: int, people: dict[str, Person], tags: list[str]) -> None:
    kind = change[0]
    if kind == "event":
        ingest(_story_events(f"late{n}", change[1]), LATER)
    elif kind == "disqualifier":
        tag = tags[change[1] % len(tags)]
        merged = T - timedelta(days=int(tag.split("-")[1]))
        late = stories.durable_change(tag, merged, disqualifier=change[2], disqualify_after=1.5)
        ingest([late[-1]], LATER)
    elif kind == "remap":
        directory.identity_map(value=change[1], person=people[change[2]])
    elif kind == "move":
        person = people[change[1]]
        to = Team.objects.get(slug="search" if teams_of(person) == ["payments"] else "payments")
        moved_at = T - timedelta(days=change[2])
        for m in Membership.objects.filter(person=person):
            directory.membership_end(m, at=moved_at)
        directory.membership_start(person=person, team=to, valid_from=moved_at)
    elif kind == "reprice":
        records = list(TokenUsage.objects.order_by("id"))
        if records:
            CostAdjustment.objects.create(
                usage_id=records[change[1] % len(records)].pk,
                delta_usd=Decimal(change[2]) / 100,
                reason="price correction",
            )
    elif kind == "quality":  # a bug, an incident or an approval learnt late
        tag = tags[change[1] % len(tags)]
        refs = {"pr": [f"acme/api#{tag}"], "incident": [f"P{n}"], "issue": [f"github:i{n}"]}
        late = {
            "source": stories.SOURCE,
            "id": f"{tag}-late-{n}",
            "type": change[2],
            "occurred_at": (T - timedelta(hours=1)).isoformat(),
            "refs": refs,
            "attributes": {"reviewer": "octocat", "state": "approved"},
        }
        ingest([late], LATER)
    else:  # usage that happened before T and arrived later
        usage_ingest(
            items=[_usage(f"late{n}", change[1], T - timedelta(days=change[2]), None)], now=LATER
        )


def teams_of(person: Person) -> list[str]:
    return [t.slug for t in directory.teams_of(person)]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    base=st.lists(story, min_size=1, max_size=4),
    changes=st.lists(late_change, min_size=1, max_size=5),
)
def test_as_of_t_answers_byte_for_byte_what_the_report_said_at_t(
    reader: Api, base: list[dict[str, Any]], changes: list[tuple[Any, ...]]
) -> None:
    with transaction.atomic():
        with clock_at(T):
            definitions_install_defaults(now=T - timedelta(days=400))
            people = _directory()
            tags = [f"s{i}-{s['days_ago']}" for i, s in enumerate(base)]
            for tag, s in zip(tags, base, strict=True):
                ingest(_story_events(tag, s), T)
                usage_ingest(
                    items=[
                        _usage(
                            tag, s["actor"], T - timedelta(days=s["days_ago"]), f"acme/api#{tag}"
                        )
                    ],
                    now=T,
                )
            score(T)
            at_t = answers(reader)

        with clock_at(LATER):
            for n, change in enumerate(changes):
                _apply(change, n, people, tags)
            score(LATER)
            assert answers(reader, as_of=T.isoformat().replace("+00:00", "Z")) == at_t
        transaction.set_rollback(True)
