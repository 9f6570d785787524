"""Wire-format work events telling small stories, one per domain, linked by refs.

Used by the pipeline tests, the end-to-end tests and bench/scoring.py. Every
story takes a unique ``tag`` (it prefixes ids and ref values) and a start time;
:func:`mix` builds a seeded, realistic mix across the five domains.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

SOURCE = "story-bot"


def _at(start: datetime, days: float) -> str:
    return (start + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _event(
    tag: str,
    name: str,
    event_type: str,
    at: str,
    refs: dict[str, list[str]],
    actor: str = "alice@example.com",
    **attributes: Any,
) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "id": f"{tag}-{name}",
        "type": event_type,
        "occurred_at": at,
        "actor": actor,
        "subject": f"test:{tag}",
        "refs": refs,
        "attributes": attributes,
    }


def durable_change(
    tag: str,
    start: datetime,
    *,
    deploy_after: float | None = 1,
    disqualifier: str | None = None,
    disqualify_after: float = 5,
    actor: str = "alice@example.com",
    ai_share: float | None = None,
    service: str | None = None,
) -> list[dict[str, Any]]:
    """A PR merged at ``start``, deployed ``deploy_after`` days later (to ``service``
    when given), optionally reverted / rolled back / blamed for an incident
    ``disqualify_after`` days in."""
    pr, commit, deploy = f"acme/api#{tag}", f"c{tag}", f"d{tag}"
    merged = _event(
        tag,
        "merged",
        "code.pr.merged",
        _at(start, 0),
        {"pr": [pr], "commit": [commit, f"h{tag}"]},
        actor=actor,
        base_branch="main",
        default_branch="main",
        draft=False,
        merged=True,
        additions=40,
        deletions=3,
    )
    if ai_share is not None:
        merged["ai"] = {"assisted": ai_share > 0, "share": ai_share, "agent": "claude-code"}
    events = [merged]
    if deploy_after is not None:
        events.append(
            _event(
                tag,
                "deploy",
                "deploy.succeeded",
                _at(start, deploy_after),
                {"deploy": [deploy], "commit": [commit]},
                actor="deploy-bot",
                environment="production",
                **({"service": service} if service else {}),
            )
        )
    at = _at(start, disqualify_after)
    if disqualifier == "revert":
        events.append(_event(tag, "revert", "code.reverted", at, {"commit": [commit]}))
    elif disqualifier == "rollback":
        # Names the deploy only: it links through the ref the deploy carried in.
        events.append(
            _event(
                tag,
                "rollback",
                "deploy.rolled_back",
                at,
                {"deploy": [deploy]},
                environment="production",
            )
        )
    elif disqualifier == "incident":
        events.append(
            _event(
                tag,
                "incident",
                "incident.attributed",
                at,
                {"incident": [f"P{tag}"], "commit": [commit]},
            )
        )
    return events


def incident(
    tag: str, at: datetime, *, service: str | None, source: str = SOURCE
) -> list[dict[str, Any]]:
    """An incident opened at ``at`` on ``service`` (none: on no service), naming no change."""
    event = _event(
        tag,
        "opened",
        "incident.opened",
        _at(at, 0),
        {"incident": [f"P{tag}"]},
        actor="pagerduty",
        severity="SEV2",
        **({"service": service} if service else {}),
    )
    event["source"] = source
    return [event]


def contract(
    tag: str, start: datetime, *, cancel_after: float | None = None, actor: str = "lee@example.com"
) -> list[dict[str, Any]]:
    """A contract signed at ``start``, optionally cancelled ``cancel_after`` days later."""
    events = [
        _event(
            tag,
            "signed",
            "contract.signed",
            _at(start, 0),
            {"envelope": [f"env-{tag}"]},
            actor=actor,
        )
    ]
    if cancel_after is not None:
        events.append(
            _event(
                tag,
                "cancelled",
                "contract.cancelled",
                _at(start, cancel_after),
                {"envelope": [f"env-{tag}"]},
                actor=actor,
                reason="terminated",
            )
        )
    return events


def ticket(
    tag: str, start: datetime, *, reopen_after: float | None = None, actor: str = "sam@example.com"
) -> list[dict[str, Any]]:
    events = [
        _event(
            tag, "resolved", "ticket.resolved", _at(start, 0), {"ticket": [f"T-{tag}"]}, actor=actor
        )
    ]
    if reopen_after is not None:
        events.append(
            _event(
                tag,
                "reopened",
                "ticket.reopened",
                _at(start, reopen_after),
                {"ticket": [f"T-{tag}"]},
                actor="customer",
            )
        )
    return events


def content(
    tag: str,
    start: datetime,
    *,
    visits: list[int],
    unpublish_after: float | None = None,
    actor: str = "max@example.com",
) -> list[dict[str, Any]]:
    """Content published at ``start`` with one traffic report a day, optionally
    unpublished ``unpublish_after`` days later."""
    url = f"https://example.com/blog/{tag}"
    events = [
        _event(
            tag,
            "published",
            "content.published",
            _at(start, 0),
            {"content": [f"blog/{tag}"]},
            actor=actor,
            url=url,
        )
    ]
    for day, count in enumerate(visits, start=1):
        events.append(
            _event(
                tag,
                f"traffic-{day}",
                "content.traffic",
                _at(start, day),
                {"content": [f"blog/{tag}"]},
                actor="analytics",
                url=url,
                visits=count,
            )
        )
    if unpublish_after is not None:
        events.append(
            _event(
                tag,
                "unpublished",
                "content.unpublished",
                _at(start, unpublish_after),
                {"content": [f"blog/{tag}"]},
                actor=actor,
                url=url,
                reason="retracted",
            )
        )
    return events


def deal(
    tag: str, start: datetime, *, orders: list[int], actor: str = "kim@example.com"
) -> list[dict[str, Any]]:
    events = []
    for step, (before, after) in enumerate(itertools.pairwise(orders)):
        events.append(
            _event(
                tag,
                f"stage-{step}",
                "crm.opportunity.stage_changed",
                _at(start, step * 3),
                {"deal": [f"hubspot:{tag}"]},
                actor=actor,
                from_stage=f"s{before}",
                to_stage=f"s{after}",
                from_order=before,
                to_order=after,
                won=after >= 6,
                lost=False,
            )
        )
    return events


def mix(*, count: int, now: datetime, seed: int = 7, span_days: int = 120) -> list[dict[str, Any]]:
    """About ``count`` events across the five domains, spread over ``span_days``
    before ``now``, in time order. Deterministic for a seed."""
    rnd = random.Random(seed)
    # Draws added later (services, incidents by deploy window, cancellations,
    # retractions) come from their own generator, so the stories drawn from ``rnd``
    # stay what they were for a seed and benchmarks compare like with like.
    more = random.Random(seed + 1_000_003)
    services = ["acme/api", "acme/web", "acme/billing", "acme/search"]
    events: list[dict[str, Any]] = []
    people = [f"dev{i}@example.com" for i in range(40)]
    # Future-dated tails of recent stories are not events yet.
    limit = now.isoformat().replace("+00:00", "Z")
    n = 0
    while len(events) < count:
        n += 1
        tag = f"s{seed}-{n}"
        start = now - timedelta(days=rnd.uniform(1, span_days))
        kind = rnd.random()
        if kind < 0.45:
            roll = rnd.random()
            disqualifier = (
                "revert"
                if roll < 0.05
                else "rollback"
                if roll < 0.08
                else "incident"
                if roll < 0.10
                else None
            )
            service = more.choice(services)
            story = durable_change(
                tag,
                start,
                deploy_after=None if rnd.random() < 0.1 else rnd.uniform(0.1, 10),
                disqualifier=disqualifier,
                disqualify_after=rnd.uniform(0.5, 40),
                actor=rnd.choice(people),
                ai_share=rnd.choice([None, 0.0, 0.4, 0.9]),
                service=service,
            )
            deployed = [e for e in story if e["type"] == "deploy.succeeded"]
            if deployed and more.random() < 0.05:
                # An incident on the service, sometimes inside the deploy window.
                at = datetime.fromisoformat(deployed[0]["occurred_at"]) + timedelta(
                    days=more.uniform(0, 2)
                )
                story += incident(f"{tag}-i", at, service=service)
        elif kind < 0.60:
            story = contract(tag, start, cancel_after=12 if more.random() < 0.05 else None)
        elif kind < 0.80:
            story = ticket(tag, start, reopen_after=rnd.choice([None, None, None, 3, 12]))
        elif kind < 0.90:
            story = content(
                tag,
                start,
                visits=[rnd.randint(50, 600) for _ in range(4)],
                unpublish_after=10 if more.random() < 0.05 else None,
            )
        else:
            orders = [1]
            for _ in range(rnd.randint(1, 4)):
                orders.append(max(1, orders[-1] + rnd.choice([1, 1, 2, -1])))
            story = deal(tag, start, orders=orders)
        events += [e for e in story if e["occurred_at"] <= limit]
    events.sort(key=lambda e: e["occurred_at"])
    return events[:count]
