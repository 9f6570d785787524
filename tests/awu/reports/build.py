"""Factory functions for report tests: people, teams, definitions, units, entries, usage.

Rows are written straight to the tables (the scoring pipeline is not under test
here). Times default to March 2026.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from awu.definitions.models import Definition, DefinitionVersion
from awu.scoring.models import AwuEntry, WorkUnit
from ledger.models import (
    Identity,
    Membership,
    Person,
    Source,
    Team,
    TokenUsage,
    WorkEvent,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
_ids = itertools.count(1)


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def source(slug: str = "gateway", kind: str = "api") -> Source:
    return Source.objects.get_or_create(kind=kind, slug=slug)[0]


def team(slug: str, domain: str = "engineering") -> Team:
    return Team.objects.get_or_create(slug=slug, defaults={"name": slug, "domain": domain})[0]


def person(name: str, *, team_slug: str | None = None, actor: str | None = None) -> Person:
    p = Person.objects.create(name=name, email=f"{name}@example.com")
    Identity.objects.create(value=actor or f"{name}@example.com", person=p)
    if team_slug:
        Membership.objects.create(person=p, team=team(team_slug), valid_from=T0.replace(year=2020))
    return p


def actor_of(p: Person) -> str:
    """The actor string a person is known by (their first identity)."""
    return str(Identity.history.filter(person=p).order_by("id").values_list("value", flat=True)[0])


def definition(
    key: str = "shipped",
    domain: str = "engineering",
    *,
    survive_days: int = 0,
    requires: list[dict[str, Any]] | None = None,
) -> DefinitionVersion:
    d = Definition.objects.get_or_create(key=key, defaults={"name": key, "domain": domain})[0]
    existing = DefinitionVersion.objects.filter(definition=d, version=1).first()
    if existing:
        return existing
    return DefinitionVersion.objects.create(
        definition=d,
        version=1,
        status="published",
        trigger_type="code.pr.merged",
        survive_days=survive_days,
        requires=requires or [],
        covers_from=T0.replace(year=2000),
        published_at=T0.replace(year=2020),
    )


def event(
    type_: str = "code.pr.merged",
    *,
    occurred_at: datetime | None = None,
    refs: dict[str, list[str]] | None = None,
    actor: str | None = None,
    team_slug: str | None = None,
    ai: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
    received_at: datetime | None = None,
) -> WorkEvent:
    refs = refs or {}
    when = occurred_at or at(2)
    return WorkEvent.objects.create(
        source=source("github", "github"),
        external_id=f"e{next(_ids)}",
        type=type_,
        occurred_at=when,
        received_at=received_at or when,
        actor=actor,
        team=team_slug,
        refs=refs,
        ref_keys=[f"{k}:{v}" for k, vs in refs.items() for v in vs],
        ai=ai,
        attributes=attributes or {},
    )


def unit(
    version: DefinitionVersion,
    *,
    owner: Person | None = None,
    team_: Team | None = None,
    state: str = "completed",
    units: str = "1",
    triggered_at: datetime | None = None,
    completed_at: datetime | None = None,
    credit: bool | None = None,
    refs: dict[str, list[str]] | None = None,
    ai_assisted: bool | None = None,
    created_at: datetime | None = None,
    reason: str | None = None,
    satisfied_at: datetime | None = None,
    actor: str | None = None,
) -> WorkUnit:
    """A unit; a completed one gets its +units entry (``credit`` overrides).
    ``satisfied_at`` marks a pending unit as inside its survival window.

    Its trigger event carries the owner's actor and names ``team_``: reports
    attribute units from their trigger when read."""
    when = triggered_at or at(2)
    done = completed_at or (when if state in ("completed", "voided") else None)
    actor = actor or (actor_of(owner) if owner else None)
    trigger = event(
        occurred_at=when, refs=refs, actor=actor, team_slug=team_.slug if team_ else None
    )
    amount = Decimal(units)
    credited = credit if credit is not None else state == "completed"
    w = WorkUnit.objects.create(
        version=version,
        trigger_event_id=trigger.pk,
        state=state,
        units=amount,
        credited=amount if credited else 0,
        reason=reason,
        triggered_at=when,
        satisfied_at=satisfied_at,
        completed_at=done,
        evidence=[trigger.pk],
        ref_keys=list(trigger.ref_keys),
        actor=actor,
        person=owner,
        team=team_,
        ai_assisted=ai_assisted,
        created_at=created_at or when,
        updated_at=created_at or when,
    )
    if credited:
        entry(w, Decimal(units), effective_at=done or when, created_at=created_at or done or when)
    return w


def entry(
    w: WorkUnit,
    delta: Decimal,
    *,
    effective_at: datetime,
    created_at: datetime,
    state: str = "completed",
) -> AwuEntry:
    return AwuEntry.objects.create(
        unit=w,
        version=w.version,
        definition=w.version.definition,
        domain=w.version.definition.domain,
        delta=delta,
        state=state,
        created_at=created_at,
        effective_at=effective_at,
        person_id=w.person_id,
        team_id=w.team_id,
    )


def usage(
    *,
    actor: str | None = None,
    cost: str | None = "1.00",
    occurred_at: datetime | None = None,
    model: str = "claude-opus-4-5",
    provider: str = "anthropic",
    team_slug: str | None = None,
    refs: dict[str, list[str]] | None = None,
    attributes: dict[str, Any] | None = None,
    src: Source | None = None,
    input_tokens: int = 100,
    output_tokens: int = 10,
    received_at: datetime | None = None,
    grain: str | None = None,
) -> TokenUsage:
    refs = refs or {}
    if grain is None:
        # As Claude Code's mapping stores them: metrics are summaries of requests.
        metrics = (attributes or {}).get("derived_from") == "metrics"
        grain = "summary" if metrics else "request"
    when = occurred_at or at(2)
    return TokenUsage.objects.create(
        source=src or source(),
        external_id=f"u{next(_ids)}",
        occurred_at=when,
        received_at=received_at or when,
        actor=actor,
        team=team_slug,
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=Decimal(cost) if cost is not None else None,
        cost_source="reported" if cost is not None else "unpriced",
        refs=refs,
        ref_keys=[f"{k}:{v}" for k, vs in refs.items() for v in vs],
        attributes=attributes or {},
        grain=grain,
    )
