"""Report parameters: parsed and checked once, from the query string.

Read with ``ledger.query``'s functions; a bad value raises ``InvalidInput``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from ledger import access, clock
from ledger.query import Query, choice, invalid, one, parse_bound, parse_period, person_id, values

DIMENSIONS = (
    "team",
    "department",
    "cost_centre",
    "person",
    "domain",
    "definition",
    "model",
    "week",
    "month",
)
PERIODS = ("week", "month")
BASES = ("triggered", "completed")
AI_VALUES = ("assisted", "not")
# A report spans at most three years (and so at most 157 weeks).
MAX_DAYS = 3 * 365 + 1


@dataclass(frozen=True)
class ReportQuery:
    """What to report on. ``start``/``stop``: [start, stop) over the basis time."""

    start: datetime | None = None
    stop: datetime | None = None
    group_by: tuple[str, ...] = ()
    basis: str = "triggered"
    as_of: datetime | None = None
    team: str | None = None
    person: int | None = None
    domain: str | None = None
    definition: str | None = None
    source: str | None = None
    provider: str | None = None
    model: str | None = None
    ai: str | None = None
    # The teams the caller reads (ledger.access): None for every team. Applied in
    # one place, ``aggregate.side_rows``, and by the work-unit selectors.
    teams: frozenset[int] | None = None

    @property
    def period(self) -> str | None:
        return next((g for g in self.group_by if g in PERIODS), None)

    @property
    def day_aligned(self) -> bool:
        return all(b is None or b.timetz() == time(0, tzinfo=UTC) for b in (self.start, self.stop))

    @property
    def units_apply(self) -> bool:
        """Work units and AWUs have no model, provider or source."""
        return "model" not in self.group_by and not (self.source or self.provider or self.model)

    @property
    def spend_applies(self) -> bool:
        """Token spend has no definition and no AI-assistance flag."""
        return "definition" not in self.group_by and not (self.definition or self.ai)


def check_range(start: datetime | None, stop: datetime | None) -> None:
    """Refuse a period that starts after today (UTC, by the one clock) or spans
    more than three years, naming the field; ``from`` after ``to`` is refused by
    ``parse_period`` before. A ``to`` after today is a period not over yet (this
    month, this quarter): allowed."""
    today = clock.now().date()
    if start is not None and start.date() > today:
        raise invalid("from", f"is in the future (today is {today.isoformat()})")
    if start is not None and stop is not None and stop - start > timedelta(days=MAX_DAYS):
        raise invalid("to", f"a report spans at most 3 years ({MAX_DAYS} days) from `from`")


def limited_to(query: ReportQuery, teams: frozenset[int] | None) -> ReportQuery:
    """``query`` for a caller who reads ``teams`` (None: every team).

    An explicit ``team`` the caller may not read raises ``Forbidden`` naming it,
    whether or not such a team exists (no existence leak)."""
    if teams is None:
        return replace(query, teams=None)
    access.require_team(teams, query.team)
    return replace(query, teams=frozenset(teams))


def parse_report_query(
    query: Query,
    *,
    allowed_group_by: tuple[str, ...] = DIMENSIONS,
    teams: frozenset[int] | None = None,
) -> ReportQuery:
    """The report parameters in ``query`` for a caller who reads ``teams`` (None:
    every team); raises ``InvalidInput`` on a bad one, ``Forbidden`` for a team the
    caller may not read."""
    start, stop = parse_period(one(query, "from"), one(query, "to"))
    raw_as_of = one(query, "as_of")
    as_of = parse_bound(raw_as_of, field="as_of", end=True) if raw_as_of else None
    group_by = tuple(dict.fromkeys(values(query, "group_by")))
    for item in group_by:
        choice(item, "group_by", allowed_group_by)
    if sum(1 for g in group_by if g in PERIODS) > 1:
        raise invalid("group_by", "group by week or by month, not both")
    if any(g in PERIODS for g in group_by) and (start is None or stop is None):
        raise invalid("from", "grouping by week or month needs both from and to")
    check_range(start, stop)
    person = person_id(one(query, "person"))
    report = ReportQuery(
        start=start,
        stop=stop,
        group_by=group_by,
        basis=choice(one(query, "basis"), "basis", BASES) or "triggered",
        as_of=as_of,
        team=one(query, "team"),
        person=person,
        domain=one(query, "domain"),
        definition=one(query, "definition"),
        source=one(query, "source"),
        provider=one(query, "provider"),
        model=one(query, "model"),
        ai=choice(one(query, "ai"), "ai", AI_VALUES),
    )
    return limited_to(report, teams)


def parse_trend_query(
    query: Query, *, teams: frozenset[int] | None = None
) -> tuple[ReportQuery, str]:
    """The report parameters of a trend and its ``interval`` (default month); a
    trend needs both ``from`` and ``to``."""
    interval = choice(query.get("interval") or None, "interval", PERIODS) or "month"
    report = parse_report_query(query, allowed_group_by=(), teams=teams)
    if report.start is None or report.stop is None:
        raise invalid("from", "a trend needs both from and to")
    return report, interval
