"""Micro-benchmark of the pure scoring engine.

Builds 50,000 work events shaped like a busy organisation (merged PRs and the
deploys that ship them, reverts, rollbacks, attributed incidents, deal stage
changes, tickets, content traffic, signed contracts) and evaluates every
default definition over them, as a full rescore would.

    .venv/bin/python bench/engine_micro.py [--events N] [--seed S]

Prints the events scored per second (events / total wall time of compile +
evaluate across all default definitions), and the unit counts by state.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from awu.definitions.defaults import DEFAULT_DEFINITIONS
from awu.rules.engine import compile_definition, evaluate
from awu.rules.spec import Event

START = datetime(2026, 1, 1, tzinfo=UTC)


def build_events(count: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []

    def add(event_type: str, at: datetime, refs: dict[str, list[str]], **attributes: Any) -> None:
        events.append(
            Event(
                id=len(events) + 1,
                type=event_type,
                occurred_at=at,
                refs={k: tuple(v) for k, v in refs.items()},
                attributes=attributes,
                actor=f"dev{rng.randrange(200)}@example.com",
                person_id=None,
                team_id=None,
                subject=None,
                ai={"assisted": True, "share": 0.6, "agent": "claude-code"},
            )
        )

    def at(day: float) -> datetime:
        return START + timedelta(days=day)

    pr = deploy = deal = ticket = content = envelope = 0
    pending_commits: list[str] = []
    while len(events) < count:
        now = 365 * len(events) / count  # time moves on as work accumulates
        roll = rng.random()
        if roll < 0.45:  # engineering
            pr += 1
            commits = [f"{pr:06x}{k}" for k in range(rng.randint(1, 4))]
            add(
                "code.pr.merged",
                at(now),
                {"pr": [f"acme/api#{pr}"], "commit": commits},
                base_branch="main",
                default_branch="main",
                draft=False,
                merged=True,
                additions=rng.randint(1, 400),
                deletions=rng.randint(0, 200),
            )
            pending_commits.extend(commits)
            if len(pending_commits) > 12:  # a deploy ships a handful of PRs
                deploy += 1
                shipped, pending_commits = pending_commits, []
                when = now + rng.uniform(0, 3)
                refs = {"deploy": [str(deploy)], "commit": shipped}
                add("deploy.succeeded", at(when), refs, environment="production")
                if rng.random() < 0.03:
                    add("deploy.rolled_back", at(when + 1), {"deploy": [str(deploy)]})
                if rng.random() < 0.03:
                    add(
                        "incident.attributed",
                        at(when + 2),
                        {"incident": [f"P{deploy}"], "deploy": [str(deploy)]},
                    )
            if rng.random() < 0.03:
                add("code.reverted", at(now + rng.uniform(1, 40)), {"commit": commits[:1]})
        elif roll < 0.65:  # sales
            deal += 1
            order = 0
            for step in range(rng.randint(1, 6)):
                target = order + 1 if rng.random() < 0.8 else max(order - 1, 0)
                add(
                    "crm.opportunity.stage_changed",
                    at(now + step * 3),
                    {"deal": [f"hubspot:{deal}"]},
                    from_stage=f"s{order}",
                    to_stage=f"s{target}",
                    from_order=order,
                    to_order=target,
                    won=target == 6,
                    lost=False,
                )
                order = target
        elif roll < 0.85:  # support
            ticket += 1
            add("ticket.resolved", at(now), {"ticket": [f"zendesk:{ticket}"]})
            if rng.random() < 0.15:
                add(
                    "ticket.reopened",
                    at(now + rng.uniform(0, 10)),
                    {"ticket": [f"zendesk:{ticket}"]},
                )
        elif roll < 0.95:  # marketing
            content += 1
            key = f"blog/{content}"
            add("content.published", at(now), {"content": [key]}, url=f"https://example.com/{key}")
            for d in range(rng.randint(1, 12)):
                add(
                    "content.traffic",
                    at(now + d + 1),
                    {"content": [key]},
                    visits=rng.randint(0, 300),
                )
        else:  # legal
            envelope += 1
            add("contract.signed", at(now), {"envelope": [f"docusign:envelope/{envelope}"]})
    return events[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    events = build_events(args.events, args.seed)
    now = START + timedelta(days=400)
    states: Counter[str] = Counter()
    began = time.perf_counter()
    for definition in DEFAULT_DEFINITIONS:
        compiled = compile_definition(definition.spec)
        for unit in evaluate(compiled, events, now):
            states[f"{definition.spec.key}:{unit.state}"] += 1
    elapsed = time.perf_counter() - began

    print(f"events: {len(events)}  definitions: {len(DEFAULT_DEFINITIONS)}  seconds: {elapsed:.3f}")
    print(f"events/s: {len(events) / elapsed:,.0f}")
    for key, number in sorted(states.items()):
        print(f"  {key}: {number}")


if __name__ == "__main__":
    main()
