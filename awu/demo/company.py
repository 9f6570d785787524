"""The demo company as plain data: teams, people, token spend and work.

Pure and seeded: the same seed, size and anchor give the same company, record for
record, so running the seed twice only produces duplicates. Nothing here touches
Django or the database; ``awu.demo.deliver`` sends what this builds.

The shape follows patterns reported from the field (docs/demo.md):

* token spend is heavy-tailed: the top decile of spenders spends tens of times
  what the median person spends, yet produces only about twice the output;
* AI-heavy changes churn more: they are reverted and cause attributed incidents
  more often, so more of them are voided;
* among the engineering teams, the one in the middle of adoption (smaller models,
  cached context) gets the most work per dollar; the team new to the tools pays for
  the largest model without caching, and the heaviest users run long agent sessions;
* engineers who work in Claude Code send its telemetry, so the spend of a session
  whose commit became a merged PR's head is tied to that PR's work unit; the rest
  of the spend (the gateway's daily report, sessions that merged nothing) is not.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

DEFAULT_SEED = 20261123
DEFAULT_PEOPLE = 200
DEFAULT_DAYS = 120
EMAIL_DOMAIN = "acme.example"

# Work items (merged PRs, deal moves, contracts, tickets, articles) per person and
# workday before the team's and the person's multipliers: the same in every domain,
# so output compares across them.
BASE_ITEMS_PER_WORKDAY = 0.2
# Spread of personal spend (log-normal sigma) and how strongly output follows it:
# output grows with the fourth root of spend, so 16x the spend buys 2x the output.
SPEND_SIGMA = 1.35
OUTPUT_ELASTICITY = 0.25
# Claude Code: an engineer works in it with a chance that grows with their adoption,
# and then spends this share of their dollars in its sessions (the rest, chat and
# scripts, reaches the gateway's daily usage report).
CLAUDE_CODE_PER_ADOPTION = 2.0
CLAUDE_CODE_SHARE = 0.85


@dataclass(frozen=True, slots=True)
class Stage:
    """Where a team is in adopting AI tools, and what that does to spend and output."""

    name: str
    spend_factor: float  # team spend relative to a team early in adoption
    output_factor: float  # team output relative to a team early in adoption
    cache_share: float  # share of input-side tokens read from the prompt cache
    output_ratio: float  # output tokens per input-side token


EARLY = Stage("early", spend_factor=1.4, output_factor=1.0, cache_share=0.15, output_ratio=0.08)
MIDDLE = Stage("middle", spend_factor=1.3, output_factor=1.55, cache_share=0.8, output_ratio=0.04)
HEAVY = Stage("heavy", spend_factor=4.0, output_factor=1.9, cache_share=0.85, output_ratio=0.03)


@dataclass(frozen=True, slots=True)
class TeamSpec:
    slug: str
    name: str
    domain: str
    stage: Stage
    adoption: float  # mean AI share of the team's work
    headcount_share: float  # of the company
    daily_usd: float  # median person's spend per workday at spend_factor 1
    models: tuple[tuple[str, str, float], ...]  # (provider, model, share of dollars)
    repo: str = ""  # engineering: the repository the team merges into


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec(
        "platform", "Platform", "engineering", HEAVY, 0.85, 0.18, 5.0,
        (("anthropic", "claude-opus-4-5", 0.7), ("anthropic", "claude-sonnet-4-5", 0.3)),
        repo="acme/platform",
    ),
    TeamSpec(
        "payments", "Payments", "engineering", MIDDLE, 0.5, 0.17, 5.0,
        (("anthropic", "claude-sonnet-4-5", 0.75), ("anthropic", "claude-haiku-4-5", 0.25)),
        repo="acme/payments",
    ),
    TeamSpec(
        "mobile", "Mobile", "engineering", EARLY, 0.1, 0.15, 5.0,
        (("anthropic", "claude-opus-4-5", 1.0),),
        repo="acme/mobile",
    ),
    TeamSpec(
        "sales-emea", "Sales EMEA", "sales", MIDDLE, 0.45, 0.11, 2.0,
        (("anthropic", "claude-sonnet-4-5", 0.6), ("openai", "gpt-5-mini", 0.4)),
    ),
    TeamSpec(
        "sales-na", "Sales North America", "sales", EARLY, 0.2, 0.11, 2.0,
        (("openai", "gpt-5", 1.0),),
    ),
    TeamSpec(
        "legal", "Legal", "legal", MIDDLE, 0.4, 0.06, 2.5,
        (("anthropic", "claude-sonnet-4-5", 1.0),),
    ),
    TeamSpec(
        "support", "Customer Support", "support", HEAVY, 0.75, 0.14, 2.5,
        (("anthropic", "claude-haiku-4-5", 0.5), ("anthropic", "claude-sonnet-4-5", 0.5)),
    ),
    TeamSpec(
        "marketing", "Marketing", "marketing", HEAVY, 0.8, 0.08, 3.5,
        (("anthropic", "claude-opus-4-5", 0.6), ("openai", "gpt-5", 0.4)),
    ),
)  # fmt: skip

# USD per million tokens (input, output, cache read), as the shipped price book has
# them; used only to size token counts so a day costs about what it should. The
# ledger prices the records itself.
SIZING_RATES: dict[str, tuple[float, float, float]] = {
    "claude-opus-4-5": (5.0, 25.0, 0.5),
    "claude-sonnet-4-5": (3.0, 15.0, 0.3),
    "claude-haiku-4-5": (1.0, 5.0, 0.1),
    "gpt-5": (1.25, 10.0, 0.125),
    "gpt-5-mini": (0.25, 2.0, 0.025),
}

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Ben", "Bianca", "Carla", "Chen", "Dana",
    "David", "Elif", "Emil", "Erin", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines",
    "Ivan", "Jonas", "Julia", "Kai", "Kenji", "Lara", "Leo", "Lina", "Luca", "Maya",
    "Mateo", "Mei", "Nadia", "Nils", "Noor", "Omar", "Priya", "Rafael", "Rosa", "Sam",
    "Sara", "Tariq", "Theo", "Uma", "Vera", "Wei", "Yara", "Yusuf", "Zoe", "Zane",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Banerjee", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ito", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz",
    "Zhang", "Novak", "Silva", "Horvat", "Lindqvist",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PersonSpec:
    key: str
    name: str
    email: str
    team: str
    domain: str
    adoption: float  # this person's mean AI share of work
    daily_usd: float  # spend on a typical workday
    output: float  # expected work items per workday
    # Handles the vendor tools know the person by (empty when the tool is not theirs).
    github: str = ""
    pagerduty: str = ""
    hubspot: str = ""
    zendesk: str = ""
    claude_code: bool = False  # works in Claude Code, which reports its sessions over OTLP

    def aliases(self) -> list[str]:
        """Every actor string the tools use for this person (resolved by identities)."""
        found = [self.email]
        if self.github:
            found.append(f"github:{self.github}")
        if self.pagerduty:
            found.append(f"pagerduty:{self.pagerduty}")
        if self.hubspot:
            found.append(f"hubspot:{self.hubspot}")
        if self.zendesk:
            found.append(f"zendesk:{self.zendesk}")
        return found


@dataclass(frozen=True, slots=True)
class Hook:
    """One webhook delivery to make: the vendor, the event kind header (GitHub) and body."""

    vendor: str
    body: Any
    kind: str = ""
    delivery_id: str = ""
    at: str = ""  # when it happened, for ordering


@dataclass(frozen=True, slots=True)
class SessionDay:
    """One day's Claude Code spend of one person, before work gathers it into sessions."""

    day: datetime  # midnight UTC
    spend: tuple[tuple[str, float], ...]  # (model, USD)


@dataclass(slots=True)
class Session:
    """A Claude Code session: the days it was resumed on and, when its work was merged,
    the commit it made that became the pull request's head."""

    id: str
    person: PersonSpec
    days: list[SessionDay]
    commit: str = ""
    committed_at: datetime | None = None
    message: str = ""


@dataclass
class Company:
    seed: int
    anchor: datetime
    days: int
    teams: tuple[TeamSpec, ...]
    people: list[PersonSpec]
    events: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    # Claude Code's log records (``payloads.claude_code_*``), each with its actor.
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    # Work items started per person (email): the output the spend is compared with.
    work_items: Counter[str] = field(default_factory=Counter)
    # Claude Code spend per person (email) and day; work turns it into sessions.
    claude_code_days: dict[str, list[SessionDay]] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return self.anchor - timedelta(days=self.days)

    def spend_by_person(self) -> dict[str, Decimal]:
        """USD per person (email) over the whole history, at the sizing rates."""
        totals: dict[str, Decimal] = {p.email: Decimal(0) for p in self.people}
        for record in self.usage:
            totals[record["actor"]] += usage_cost(record)
        for record in self.telemetry:
            cost = record["attributes"].get("cost_usd")
            if cost is not None:
                totals[record["actor"]] += Decimal(repr(cost))
        return totals


def sized_tokens(model: str, stage: Stage, usd: float) -> dict[str, int]:
    """Token counts that cost about ``usd`` on ``model`` at ``stage``'s cache and
    output shares (no cache writes); all zero when that is less than a token."""
    rate_in, rate_out, rate_cached = SIZING_RATES[model]
    cached = stage.cache_share
    per_input_token = (
        (1 - cached) * rate_in + cached * rate_cached + stage.output_ratio * rate_out
    ) / 1_000_000
    input_side = max(0, int(usd / per_input_token))
    return {
        "input_tokens": int(input_side * (1 - cached)),
        "output_tokens": int(input_side * stage.output_ratio),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": int(input_side * cached),
    }


def usage_cost(record: dict[str, Any]) -> Decimal:
    rate_in, rate_out, rate_cached = SIZING_RATES[record["model"]]
    micro = (
        record["input_tokens"] * rate_in
        + record["output_tokens"] * rate_out
        + record["cache_read_input_tokens"] * rate_cached
    )
    return Decimal(repr(micro)) / Decimal(1_000_000)


def seeded(*parts: object) -> random.Random:
    """A generator seeded by ``parts`` (a str seed hashes the same in every process)."""
    return random.Random(":".join(str(p) for p in parts))  # noqa: S311 - made-up data, no secrets


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def hex_id(rng: random.Random, bits: int = 160) -> str:
    """A lower-case hex id of ``bits`` bits (160: a full git SHA)."""
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: means here stay small (a few items a day).
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def workdays(start: datetime, days: int) -> list[datetime]:
    """Midnights (UTC) of the Monday-to-Friday days from ``start`` on."""
    out = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.weekday() < 5:
            out.append(day)
    return out


def anchor_for(now: datetime) -> datetime:
    """The demo history ends at the start of the clock's current UTC day, so a
    re-run the same day generates the very same records."""
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def _headcounts(people: int) -> list[int]:
    """People per team: proportional to headcount_share, at least two per team."""
    raw = [max(2, round(team.headcount_share * people)) for team in TEAMS]
    # Settle rounding on the largest teams so the total is exact (when it can be).
    order = sorted(range(len(TEAMS)), key=lambda i: -raw[i])
    index = 0
    while sum(raw) != people and index < 10 * len(raw):
        i = order[index % len(order)]
        if sum(raw) > people and raw[i] > 2:
            raw[i] -= 1
        elif sum(raw) < people:
            raw[i] += 1
        index += 1
    return raw


def _people(rng: random.Random, tools: random.Random, size: int) -> list[PersonSpec]:
    """The staff; ``tools`` draws who works in Claude Code (apart from ``rng`` so the
    rest of the company does not depend on it)."""
    people: list[PersonSpec] = []
    seen: set[str] = set()
    number = 0
    for team, headcount in zip(TEAMS, _headcounts(size), strict=True):
        for _ in range(headcount):
            number += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{first}.{last}".lower()
            suffix = 2
            while local in seen:
                local = f"{first}.{last}{suffix}".lower()
                suffix += 1
            seen.add(local)
            # Personal spend level: log-normal around the team's median. Output
            # follows it only weakly (OUTPUT_ELASTICITY).
            level = math.exp(rng.gauss(0.0, SPEND_SIGMA))
            handle = local.replace(".", "-")
            engineering = team.domain == "engineering"
            adoption = clamp(rng.gauss(team.adoption, 0.1), 0.0, 0.98)
            people.append(
                PersonSpec(
                    key=f"p{number:04d}",
                    name=f"{first} {last}",
                    email=f"{local}@{EMAIL_DOMAIN}",
                    team=team.slug,
                    domain=team.domain,
                    adoption=adoption,
                    daily_usd=team.daily_usd * team.stage.spend_factor * level,
                    output=BASE_ITEMS_PER_WORKDAY
                    * team.stage.output_factor
                    * clamp(level**OUTPUT_ELASTICITY, 0.5, 3.0),
                    github=handle if engineering else "",
                    pagerduty=f"P{number:06d}" if engineering else "",
                    hubspot=str(41_000_000 + number) if team.domain == "sales" else "",
                    zendesk=str(9_000_000 + number) if team.domain == "support" else "",
                    claude_code=engineering
                    and tools.random() < CLAUDE_CODE_PER_ADOPTION * adoption,
                )
            )
    return people


def _usage(company: Company) -> None:
    """Daily bucketed token usage per person and model (a usage report's shape).

    A Claude Code user's share of the Anthropic dollars of the day is kept apart
    (``company.claude_code_days``): it is reported by Claude Code itself, per session.
    """
    teams = {team.slug: team for team in company.teams}
    for person in company.people:
        rng = seeded(company.seed, "usage", person.key)
        team = teams[person.team]
        stage = team.stage
        days: list[SessionDay] = []
        for offset in range(company.days):
            day = company.start + timedelta(days=offset)
            weekend = day.weekday() >= 5
            # Heavy users keep agents running at weekends too.
            if weekend and rng.random() > (0.35 if stage is HEAVY else 0.05):
                continue
            usd = person.daily_usd * math.exp(rng.gauss(0.0, 0.45)) * (0.4 if weekend else 1.0)
            in_sessions: list[tuple[str, float]] = []
            for number, (provider, model, share) in enumerate(team.models):
                if number > 0 and rng.random() < 0.4:
                    continue  # the secondary model is not used every day
                dollars = usd * share
                if person.claude_code and provider == "anthropic":
                    in_sessions.append((model, dollars * CLAUDE_CODE_SHARE))
                    dollars *= 1 - CLAUDE_CODE_SHARE
                tokens = sized_tokens(model, stage, dollars)
                if not any(tokens.values()):
                    continue
                company.usage.append(
                    {
                        "source": "llm-gateway",
                        "id": f"{person.key}-{day:%Y%m%d}-{model}",
                        "period_start": rfc3339(day),
                        "period_end": rfc3339(day + timedelta(days=1)),
                        "actor": person.email,
                        "provider": provider,
                        "model": model,
                        **tokens,
                        "cost_usd": None,
                        "attributes": {"bucket": "1d"},
                    }
                )
            if in_sessions:
                days.append(SessionDay(day=day, spend=tuple(in_sessions)))
        if days:
            company.claude_code_days[person.email] = days


def company_build(
    *,
    anchor: datetime,
    seed: int = DEFAULT_SEED,
    people: int = DEFAULT_PEOPLE,
    days: int = DEFAULT_DAYS,
) -> Company:
    """The whole demo company: ``people`` people in 8 teams, ``days`` days of history
    ending at ``anchor`` (exclusive; nothing is dated at or after it).

    Deterministic in (seed, people, days, anchor). Raises ValueError on a size the
    teams cannot be made from.
    """
    if people < 2 * len(TEAMS):
        raise ValueError(f"the demo needs at least {2 * len(TEAMS)} people (two per team)")
    if days < 7:
        raise ValueError("the demo needs at least 7 days of history")
    from awu.demo import work

    company = Company(
        seed=seed,
        anchor=anchor.astimezone(UTC),
        days=days,
        teams=TEAMS,
        people=_people(seeded(seed, "people"), seeded(seed, "claude-code"), people),
    )
    _usage(company)
    work.work_generate(company)
    company.events.sort(key=lambda e: (e["occurred_at"], e["source"], e["id"]))
    company.hooks.sort(key=lambda h: h.at)
    company.telemetry.sort(key=lambda r: (r["actor"], r["at"], r["attributes"]["event.sequence"]))
    return company
