"""The demo company's work, per domain, as canonical events and vendor deliveries.

Each domain has its tools: Payments merges on GitHub (webhooks), the other
engineering teams report through their CI (events API), PagerDuty reports every
incident, DocuSign every signed contract, HubSpot every closed deal (stage moves
come from a CRM sync over the events API), Zendesk part of the support tickets
(the chat tool's tickets go through the API), and the CMS and web analytics post
marketing's content and traffic. Engineers who work in Claude Code send its
telemetry (OTLP logs): each session's requests, and the commit that became the
head of the pull request it worked on.

Probabilities that make the field patterns (docs/demo.md) are named constants.
"""

from __future__ import annotations

import bisect
import math
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from awu.demo import payloads
from awu.demo.company import (
    Company,
    Hook,
    PersonSpec,
    Session,
    SessionDay,
    TeamSpec,
    clamp,
    hex_id,
    poisson,
    rfc3339,
    seeded,
    sized_tokens,
    workdays,
)

# Engineering: each disqualifier's chance grows with the change's AI share.
REVERT_BASE, REVERT_PER_AI = 0.02, 0.08
INCIDENT_BASE, INCIDENT_PER_AI = 0.015, 0.10
ROLLBACK_BASE, ROLLBACK_PER_AI = 0.008, 0.02
# Incidents nobody traced to a change, per merged change.
UNATTRIBUTED_INCIDENTS = 0.03
GITHUB_TEAM = "payments"
# Claude Code: an AI-assisted change by a Claude Code user was worked on in one
# session, resumed on the author's Claude Code days up to this many days before the
# merge, whose last commit is the PR's head. Days no merged change gathered are
# sessions of their own (questions, reviews, abandoned attempts) that commit nothing.
SESSION_DAYS = 4
# Sales: a deal advances a stage with this chance, else stalls; it slips back a
# stage with a chance that grows with AI-drafted outreach.
ADVANCE = 0.65
SLIP_BASE, SLIP_PER_AI = 0.06, 0.06
WIN = 0.45
# HubSpot's default pipeline, in order (integrations/webhooks/hubspot.py DEFAULT_STAGES).
OPEN_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)
# Support: reopened within the window more often when the answer was AI-drafted.
REOPEN_BASE, REOPEN_PER_AI = 0.05, 0.12
ZENDESK_SHARE = 0.35
# Marketing: median visits in 30 days, lower for mass-produced content.
VISITS_MEDIAN, VISITS_AI_PENALTY = 1400.0, 0.45

TITLES = (
    "Retry idempotent calls", "Cache lookups", "Fix timezone bug", "Add audit log",
    "Speed up export", "Paginate listing", "Tighten input checks", "Upgrade client",
    "Split settings", "Handle empty batch", "Add metrics", "Refactor billing job",
)  # fmt: skip
SUBJECTS = ("MSA", "NDA", "Order form", "DPA", "SOW", "Renewal")


def _day_of(session_day: SessionDay) -> datetime:
    return session_day.day


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ai(share: float, agent: str) -> dict[str, Any]:
    return {"assisted": share > 0.05, "share": round(share, 2), "agent": agent}


def _at(day: datetime, rng: random.Random) -> datetime:
    """A moment in the working day (08:00-18:00 UTC) of ``day``."""
    return day + timedelta(hours=8, seconds=rng.randrange(10 * 3600))


class _Work:
    """The company being filled, with the cut-off every record must respect."""

    def __init__(self, company: Company) -> None:
        self.company = company
        self.anchor = company.anchor
        self.days = workdays(company.start, company.days)
        self.teams = {team.slug: team for team in company.teams}
        self.members: dict[str, list[PersonSpec]] = {}
        for person in company.people:
            self.members.setdefault(person.team, []).append(person)
        # Claude Code days no session has gathered yet, per person, in time order.
        self.open_days = {email: list(days) for email, days in company.claude_code_days.items()}

    def before_end(self, moment: datetime) -> bool:
        return moment < self.anchor

    def event(self, **record: Any) -> None:
        if self.before_end(datetime.fromisoformat(record["occurred_at"])):
            self.company.events.append(record)

    def hook(
        self, vendor: str, body: Any, at: datetime, *, kind: str = "", delivery: str = ""
    ) -> None:
        if self.before_end(at):
            self.company.hooks.append(
                Hook(vendor=vendor, body=body, kind=kind, delivery_id=delivery, at=rfc3339(at))
            )

    def items(self, person: PersonSpec, rng: random.Random) -> list[datetime]:
        """The moments this person finishes work items, over the history."""
        out: list[datetime] = []
        for day in self.days:
            out.extend(sorted(_at(day, rng) for _ in range(poisson(rng, person.output))))
        self.company.work_items[person.email] += len(out)
        return out

    def session_commit(
        self, person: PersonSpec, *, commit: str, merged_at: datetime, message: str
    ) -> None:
        """The session that made ``commit`` (a PR head merged at ``merged_at``): the
        person's open Claude Code days of the SESSION_DAYS up to the merge day. No
        session when there are none (the change was made without Claude Code)."""
        day = merged_at.replace(hour=0, minute=0, second=0, microsecond=0)
        first = day - timedelta(days=SESSION_DAYS - 1)
        open_days = self.open_days.get(person.email, [])
        low = bisect.bisect_left(open_days, first, key=_day_of)
        high = bisect.bisect_right(open_days, day, key=_day_of)
        gathered = open_days[low:high]
        if not gathered:
            return
        del open_days[low:high]
        rng = seeded(self.company.seed, "session", commit)
        # Committed a little before the merge, after the day's first requests.
        committed_at = max(
            gathered[-1].day + timedelta(hours=7, minutes=30),
            merged_at - timedelta(minutes=rng.randrange(10, 120)),
        )
        self.company.sessions.append(
            Session(
                id=_uuid(rng), person=person, days=gathered, commit=commit,
                committed_at=committed_at, message=message,
            )
        )  # fmt: skip

    def sessions_close(self) -> None:
        """Every Claude Code day no merged change gathered: a session of its own."""
        people = {person.email: person for person in self.company.people}
        for email, days in self.open_days.items():
            for day in days:
                rng = seeded(self.company.seed, "session", email, day.day.date())
                self.company.sessions.append(
                    Session(id=_uuid(rng), person=people[email], days=[day])
                )
        self.open_days = {}


def work_generate(company: Company) -> None:
    work = _Work(company)
    for team in company.teams:
        generate = _DOMAINS[team.domain]
        generate(work, team, seeded(company.seed, "work", team.slug))
    work.sessions_close()
    for session in company.sessions:
        _telemetry(work, session)


def _engineering(work: _Work, team: TeamSpec, rng: random.Random) -> None:
    github = team.slug == GITHUB_TEAM
    members = work.members[team.slug]
    number = 100
    for person in members:
        for merged_at in work.items(person, rng):
            number += 1
            share = clamp(rng.gauss(person.adoption, 0.2))
            _change(work, team, rng, person, merged_at, number, share, github, members)


def _change(
    work: _Work,
    team: TeamSpec,
    rng: random.Random,
    author: PersonSpec,
    merged_at: datetime,
    number: int,
    share: float,
    github: bool,
    members: list[PersonSpec],
) -> None:
    """One merged PR: its deploy, and what may later undo it."""
    repo, key = team.repo, f"{team.repo}#{number}"
    merge_sha, head_sha = hex_id(rng), hex_id(rng)
    title = f"{rng.choice(TITLES)} in {repo.split('/')[1]}"
    # AI-written changes are larger: more lines for the same task.
    additions = int(math.exp(rng.gauss(4.2 + 0.8 * share, 0.9)))
    deletions = int(additions * rng.uniform(0.05, 0.6))
    deploy_id = int(rng.getrandbits(31))
    deployed_at = merged_at + timedelta(minutes=rng.randrange(20, 20 * 60))
    deployer = rng.choice(members)
    if author.claude_code and share > 0.05:
        work.session_commit(author, commit=head_sha, merged_at=merged_at, message=title)
    if github:
        level = None if share <= 0.05 else ("generated" if share >= 0.5 else "assisted")
        body = payloads.github_pull_request_merged(
            repo=repo, number=number, title=title, author=author, merged_at=merged_at,
            merge_sha=merge_sha, head_sha=head_sha, additions=additions, deletions=deletions,
            ai_level=level,
        )  # fmt: skip
        work.hook("github", body, merged_at, kind="pull_request", delivery=_uuid(rng))
        body = payloads.github_deployment_status(
            repo=repo, deploy_id=deploy_id, sha=merge_sha, at=deployed_at, creator=deployer
        )
        work.hook("github", body, deployed_at, kind="deployment_status", delivery=_uuid(rng))
    else:
        work.event(
            source="ci", id=f"{key}-merged", type="code.pr.merged",
            occurred_at=rfc3339(merged_at), actor=author.email, subject=f"github:{key}",
            refs={"pr": [key], "commit": [merge_sha, head_sha]}, ai=_ai(share, "claude-code"),
            attributes={
                "repository": repo, "base_branch": "main", "default_branch": "main",
                "draft": False, "merged": True, "additions": additions, "deletions": deletions,
                "title": title,
            },
        )  # fmt: skip
        work.event(
            source="deploy-bot", id=f"deploy-{deploy_id}-succeeded", type="deploy.succeeded",
            occurred_at=rfc3339(deployed_at), actor=deployer.email, subject=f"github:{repo}",
            refs={"deploy": [str(deploy_id)], "commit": [merge_sha]},
            attributes={"environment": "production"},
        )  # fmt: skip

    if rng.random() < REVERT_BASE + REVERT_PER_AI * share:
        at = merged_at + timedelta(hours=rng.uniform(12, 12 * 24))
        reverter = rng.choice(members)
        if github:
            body = payloads.github_push_revert(
                repo=repo, number=number, title=title, reverted_sha=merge_sha,
                revert_sha=hex_id(rng), at=at, author=reverter,
            )  # fmt: skip
            work.hook("github", body, at, kind="push", delivery=_uuid(rng))
        else:
            work.event(
                source="ci", id=f"{key}-reverted", type="code.reverted",
                occurred_at=rfc3339(at), actor=reverter.email, subject=f"github:{key}",
                refs={"commit": [merge_sha], "pr": [key]}, attributes={"repository": repo},
            )  # fmt: skip
    if rng.random() < ROLLBACK_BASE + ROLLBACK_PER_AI * share:
        at = deployed_at + timedelta(hours=rng.uniform(1, 48))
        if github:
            body = payloads.github_deployment_status(
                repo=repo, deploy_id=int(rng.getrandbits(31)), sha=hex_id(rng), at=at,
                creator=deployer, rollback_of=deploy_id,
            )  # fmt: skip
            work.hook("github", body, at, kind="deployment_status", delivery=_uuid(rng))
        else:
            work.event(
                source="deploy-bot", id=f"deploy-{deploy_id}-rolled-back",
                type="deploy.rolled_back", occurred_at=rfc3339(at), actor=deployer.email,
                subject=f"github:{repo}", refs={"deploy": [str(deploy_id)]},
                attributes={"environment": "production"},
            )  # fmt: skip
    if rng.random() < INCIDENT_BASE + INCIDENT_PER_AI * share:
        _incident(work, team, rng, deployed_at, members, cause=key)
    if rng.random() < UNATTRIBUTED_INCIDENTS:
        _incident(work, team, rng, deployed_at, members, cause=None)


def _telemetry(work: _Work, session: Session) -> None:
    """What Claude Code exports for ``session``: its ``api_request`` events day by
    day and, for a session whose work was merged, the ``tool_result`` of its commit.

    Claude Code sends one ``api_request`` per API call; the demo sends one per model
    and day, standing for that day's calls: the same spend in far fewer records, so
    the seed stays quick.
    """
    rng = seeded(work.company.seed, "telemetry", session.id)
    stage = work.teams[session.person.team].stage
    sequence = 0
    for day in session.days:
        end = day.day + timedelta(hours=19)
        if session.committed_at is not None and day is session.days[-1]:
            end = min(end, session.committed_at)
        start = min(day.day + timedelta(hours=8), end - timedelta(minutes=30))
        requests = []
        for model, usd in day.spend:
            tokens = sized_tokens(model, stage, usd)
            if any(tokens.values()):
                requests.append((start + (end - start) * rng.random(), model, tokens))
        prompt = ""
        for at, model, tokens in sorted(requests, key=lambda r: r[0]):
            sequence += 1
            prompt = _uuid(rng)
            record = payloads.claude_code_api_request(
                session=session.id, prompt=prompt, person=session.person, at=at,
                sequence=sequence, request_id="req_" + hex_id(rng, 96), model=model,
                tokens=tokens,
            )  # fmt: skip
            work.company.telemetry.append(record)
    if session.committed_at is not None:
        record = payloads.claude_code_commit(
            session=session.id, prompt=prompt or _uuid(rng), person=session.person,
            at=session.committed_at, sequence=sequence + 1,
            tool_use_id="toolu_" + hex_id(rng, 96), commit=session.commit,
            message=session.message,
        )  # fmt: skip
        work.company.telemetry.append(record)


def _incident(
    work: _Work,
    team: TeamSpec,
    rng: random.Random,
    after: datetime,
    members: list[PersonSpec],
    *,
    cause: str | None,
) -> None:
    """A PagerDuty incident; the responder names the change in the title when known."""
    opened = after + timedelta(hours=rng.uniform(2, 20 * 24))
    resolved = opened + timedelta(minutes=rng.randrange(15, 6 * 60))
    incident_id = "Q" + hex_id(rng, 48).upper()
    number = rng.randrange(1000, 99999)
    service = f"{team.slug}-api"
    title = "Elevated error rate on " + service
    if cause:
        title += f" (caused-by: {cause})"
    responder = rng.choice(members)
    urgency = "high" if rng.random() < 0.3 else "low"
    for event_type, at in (("incident.triggered", opened), ("incident.resolved", resolved)):
        body = payloads.pagerduty_incident(
            event_id=_uuid(rng), event_type=event_type, incident_id=incident_id, number=number,
            title=title, service=service, at=at, agent=responder, urgency=urgency,
        )  # fmt: skip
        work.hook("pagerduty", body, at)


def _sales(work: _Work, team: TeamSpec, rng: random.Random) -> None:
    """Deals move through the pipeline. Stage moves come from the CRM sync (events
    API); closes come from HubSpot's webhook, batched per day as HubSpot batches."""
    closes: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
    for person in work.members[team.slug]:
        for started in work.items(person, rng):
            deal = str(rng.randrange(10**9, 10**10))
            share = clamp(rng.gauss(person.adoption, 0.2))
            order, at = 0, started
            while True:
                at += timedelta(days=rng.uniform(1, 9))
                if rng.random() > ADVANCE:
                    break  # the deal stalls here
                if order == len(OPEN_STAGES) - 1:
                    stage = "closedwon" if rng.random() < WIN else "closedlost"
                    body = payloads.hubspot_stage_change(
                        event_id=rng.getrandbits(40), deal_id=deal, stage=stage, owner=person,
                        at=at,
                    )  # fmt: skip
                    if work.before_end(at):
                        closes.setdefault(at.strftime("%Y-%m-%d"), []).append((at, body))
                    break
                slip = rng.random() < SLIP_BASE + SLIP_PER_AI * share and order > 0
                new = order - 1 if slip else order + 1
                work.event(
                    source="crm-sync", id=f"deal-{deal}-{new}-{int(at.timestamp())}",
                    type="crm.opportunity.stage_changed", occurred_at=rfc3339(at),
                    actor=person.email, subject=f"hubspot:deal/{deal}", refs={"deal": [deal]},
                    ai=_ai(share, "sales-assistant"),
                    attributes={
                        "from_stage": OPEN_STAGES[order], "to_stage": OPEN_STAGES[new],
                        "from_order": order, "to_order": new, "won": False, "lost": False,
                    },
                )  # fmt: skip
                order = new
    for day in sorted(closes):
        batch = sorted(closes[day], key=lambda pair: pair[0])
        for start in range(0, len(batch), 100):
            chunk = batch[start : start + 100]
            work.hook("hubspot", [body for _, body in chunk], chunk[-1][0])


def _legal(work: _Work, team: TeamSpec, rng: random.Random) -> None:
    for person in work.members[team.slug]:
        for signed_at in work.items(person, rng):
            body = payloads.docusign_envelope_completed(
                envelope_id=_uuid(rng), account_id="8f1c2e7d-5a4b-4c3d-9e2f-1a0b9c8d7e6f",
                sender=person, subject=f"Please DocuSign: {rng.choice(SUBJECTS)}",
                at=signed_at, signers=rng.randrange(2, 5),
            )  # fmt: skip
            work.hook("docusign", body, signed_at)


def _support(work: _Work, team: TeamSpec, rng: random.Random) -> None:
    for person in work.members[team.slug]:
        for solved_at in work.items(person, rng):
            share = clamp(rng.gauss(person.adoption, 0.2))
            reopen = rng.random() < REOPEN_BASE + REOPEN_PER_AI * share
            reopened_at = solved_at + timedelta(hours=rng.uniform(4, 8 * 24))
            if rng.random() < ZENDESK_SHARE:
                ticket = str(rng.randrange(100_000, 999_999))
                body = payloads.zendesk_status_changed(
                    event_id=_uuid(rng), ticket_id=ticket, agent=person, previous="open",
                    current="solved", at=solved_at,
                )  # fmt: skip
                work.hook("zendesk", body, solved_at)
                if reopen:
                    body = payloads.zendesk_status_changed(
                        event_id=_uuid(rng), ticket_id=ticket, agent=person, previous="solved",
                        current="open", at=reopened_at,
                    )  # fmt: skip
                    work.hook("zendesk", body, reopened_at)
                continue
            ticket = f"intercom:{rng.randrange(10**7, 10**8)}"
            work.event(
                source="intercom", id=f"{ticket}-resolved", type="ticket.resolved",
                occurred_at=rfc3339(solved_at), actor=person.email,
                subject=f"intercom:conversation/{ticket.split(':')[1]}",
                refs={"ticket": [ticket]}, ai=_ai(share, "support-copilot"), attributes={},
            )  # fmt: skip
            if reopen:
                work.event(
                    source="intercom", id=f"{ticket}-reopened", type="ticket.reopened",
                    occurred_at=rfc3339(reopened_at),
                    subject=f"intercom:conversation/{ticket.split(':')[1]}",
                    refs={"ticket": [ticket]}, attributes={},
                )  # fmt: skip


def _marketing(work: _Work, team: TeamSpec, rng: random.Random) -> None:
    """Content from the CMS; weekly visits from web analytics (each event: its week)."""
    for person in work.members[team.slug]:
        for published in work.items(person, rng):
            share = clamp(rng.gauss(person.adoption, 0.2))
            slug = f"blog/{hex_id(rng, 32)}"
            url = f"https://acme.example/{slug}"
            work.event(
                source="cms", id=f"{slug}-published", type="content.published",
                occurred_at=rfc3339(published), actor=person.email, subject=f"cms:{slug}",
                refs={"content": [slug]}, ai=_ai(share, "writer-assistant"),
                attributes={"url": url},
            )  # fmt: skip
            median = VISITS_MEDIAN * (1 - VISITS_AI_PENALTY * share)
            total = math.exp(rng.gauss(math.log(median), 0.9))
            # Most visits come in the first week; each later week about half.
            weights = [0.5**week for week in range(5)]
            for week, weight in enumerate(weights):
                week_end = published + timedelta(days=7 * (week + 1))
                work.event(
                    source="analytics", id=f"{slug}-week-{week + 1}", type="content.traffic",
                    occurred_at=rfc3339(week_end), subject=f"cms:{slug}",
                    refs={"content": [slug]},
                    attributes={"url": url, "visits": int(total * weight / sum(weights))},
                )  # fmt: skip


_DOMAINS = {
    "engineering": _engineering,
    "sales": _sales,
    "legal": _legal,
    "support": _support,
    "marketing": _marketing,
}
