"""What a definition version would score over recent events, with nothing written.

The admin's preview page, the CLI and the reports API show it to a team lead
before (or after) publishing a version.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from awu.definitions.models import DefinitionVersion
from awu.definitions.services import version_problems
from awu.rules.engine import CompiledDefinition, compile_definition
from awu.rules.spec import Event, UnitResult
from awu.scoring.evidence import (
    EVENT_SELECT,
    Job,
    Pool,
    evaluate_jobs,
    event_keys,
    events_from_rows,
    query,
)
from awu.scoring.models import WorkUnit
from ledger.models import Team

PREVIEW_SAMPLE = 20
# A preview is an interactive page: past this many triggers it scores the most
# recent ones only, and says so.
PREVIEW_MAX_TRIGGERS = 20_000


@dataclass(frozen=True, slots=True)
class PreviewEvidence:
    id: int
    type: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PreviewUnit:
    trigger_id: int
    state: str
    units: Decimal
    reason: str | None
    triggered_at: datetime
    completed_at: datetime | None
    actor: str | None
    subject: str | None
    evidence: tuple[PreviewEvidence, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    """What a version would score over the last ``days`` days at ``now``; nothing written."""

    days: int
    since: datetime
    now: datetime
    units_total: int
    counts: dict[str, int]
    credit: Decimal
    sample: tuple[PreviewUnit, ...]
    warnings: int
    truncated: bool
    problems: dict[str, list[str]] = field(default_factory=dict)


def definition_preview(*, version: DefinitionVersion, days: int, now: datetime) -> Preview:
    """Run ``version`` over the real events of the last ``days`` days, writing nothing.

    Triggers are the events of its trigger type in [now - days, now]; the events
    linked to them are loaded whenever they occurred. A version with problems is
    not run: its problems are returned instead.
    """
    since = now - timedelta(days=days)
    problems = version_problems(version)
    if problems:
        return Preview(days, since, now, 0, {}, Decimal(0), (), 0, False, problems)
    compiled = compile_definition(version.spec())
    results, by_id, truncated = _evaluate_recent(
        compiled=compiled, since=since, now=now, limit=PREVIEW_MAX_TRIGGERS
    )
    counts = Counter(str(r.state) for r in results)
    # The most recent first: what a team lead previewing a rule wants to look at.
    recent = sorted(results, key=lambda r: (r.triggered_at, r.trigger_id), reverse=True)
    sample = tuple(
        PreviewUnit(
            trigger_id=r.trigger_id,
            state=str(r.state),
            units=r.units,
            reason=r.reason,
            triggered_at=r.triggered_at,
            completed_at=r.completed_at,
            actor=r.actor,
            subject=r.subject,
            evidence=tuple(
                PreviewEvidence(i, by_id[i].type, by_id[i].occurred_at)
                for i in r.evidence
                if i in by_id
            ),
        )
        for r in recent[:PREVIEW_SAMPLE]
    )
    return Preview(
        days=days,
        since=since,
        now=now,
        units_total=len(results),
        counts=dict(sorted(counts.items())),
        credit=sum((r.credit for r in results), Decimal(0)),
        sample=sample,
        warnings=sum(len(r.warnings) for r in results),
        truncated=truncated,
    )


def _evaluate_recent(
    *, compiled: CompiledDefinition, since: datetime, now: datetime, limit: int
) -> tuple[list[UnitResult], dict[int, Event], bool]:
    """Results for the triggers in [since, now], the events used, and whether the
    trigger list was cut at ``limit`` (the most recent kept)."""
    rows = query(
        EVENT_SELECT + "WHERE type = %s AND occurred_at >= %s AND occurred_at <= %s "
        "ORDER BY occurred_at DESC, id DESC LIMIT %s",
        [compiled.spec.trigger_type, since, now, limit + 1],
    )
    truncated = len(rows) > limit
    triggers = events_from_rows(rows[:limit])
    pool = Pool()
    pool.add(triggers)
    jobs = [Job(compiled, t, event_keys(t)) for t in sorted(triggers, key=lambda e: e.id)]
    evaluate_jobs(jobs, pool, now)
    return [j.result for j in jobs if j.result is not None], pool.by_id, truncated


def definition_preview_diff(
    *, version: DefinitionVersion, days: int, now: datetime
) -> dict[str, Any]:
    """Units gained and lost, by team, if ``version`` had scored the last ``days`` days.

    *Before* is what the scoreboard credits today: the live (not superseded)
    units of the version's definition triggered in [now - days, now]. *After*
    is what ``version`` credits for the triggers of that period (the preview's
    run, nothing written). A team's gain is max(after - before, 0), its loss
    max(before - after, 0). JSON-ready (decimals as strings): a change request
    stores it, and the approver sees exactly what the proposer saw.
    """
    since = now - timedelta(days=days)
    preview = definition_preview(version=version, days=days, now=now)
    out: dict[str, Any] = {
        "days": days,
        "since": since.isoformat(),
        "now": now.isoformat(),
        "version": version.version,
        "truncated": preview.truncated,
        "problems": preview.problems,
    }
    after: dict[int | None, Decimal] = defaultdict(Decimal)
    if not preview.problems:
        compiled = compile_definition(version.spec())
        results, _, _ = _evaluate_recent(
            compiled=compiled, since=since, now=now, limit=PREVIEW_MAX_TRIGGERS
        )
        for result in results:
            after[result.team_id] += result.credit
    before: dict[int | None, Decimal] = defaultdict(Decimal)
    for team_id, credited in (
        WorkUnit.objects.filter(
            version__definition_id=version.definition_id,
            superseded_at__isnull=True,
            triggered_at__gte=since,
            triggered_at__lte=now,
        )
        .values_list("team_id")
        .annotate(total=Sum("credited"))
    ):
        before[team_id] += credited or Decimal(0)
    teams = set(before) | set(after)
    slugs = dict(Team.objects.filter(pk__in=[t for t in teams if t]).values_list("pk", "slug"))
    rows = []
    for team_id in sorted(teams, key=lambda t: (t is None, slugs.get(t or 0, ""), t or 0)):
        was, now_ = before[team_id], after[team_id]
        rows.append(
            {
                "team_id": team_id,
                "team": slugs.get(team_id, "(no team)") if team_id else "(no team)",
                "before": _plain(was),
                "after": _plain(now_),
                "gained": _plain(max(now_ - was, Decimal(0))),
                "lost": _plain(max(was - now_, Decimal(0))),
            }
        )
    total_before, total_after = sum(before.values(), Decimal(0)), sum(after.values(), Decimal(0))
    out.update(
        units_before=_plain(total_before),
        units_after=_plain(total_after),
        gained=_plain(sum((max(after[t] - before[t], Decimal(0)) for t in teams), Decimal(0))),
        lost=_plain(sum((max(before[t] - after[t], Decimal(0)) for t in teams), Decimal(0))),
        by_team=rows,
    )
    return out


def _plain(value: Decimal) -> str:
    """A decimal as a short string: 3, 2.5 (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f") if value else "0"
    return text
