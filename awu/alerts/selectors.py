"""Alert reads: the figures the rules judge (from the report selectors) and the alert listing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from awu.alerts.evaluate import Week, month_bounds
from awu.alerts.models import Alert, AlertState, Budget
from awu.reports import rollups
from awu.reports.aggregate import side_rows
from awu.reports.measures import priced_cost
from awu.reports.query import ReportQuery
from awu.reports.selectors import efficiency_report
from ledger.query import Keyset


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def month_spend_by_team(*, now: datetime) -> dict[str, Decimal | None]:
    """Team slug -> this UTC month's spend so far (the efficiency report by team,
    month start to the end of today); None where it is all unpriced."""
    start, _ = month_bounds(now)
    stop = _midnight(now.date() + timedelta(days=1))
    rows = efficiency_report(query=ReportQuery(start=start, stop=stop, group_by=("team",)))
    return {r["team"]: _decimal(r["token_cost_usd"]) for r in rows if r["team"] is not None}


def weeks_by_team(*, now: datetime, weeks: int) -> dict[str, list[Week]]:
    """Team slug -> its last ``weeks`` whole weeks before this one, oldest first:
    AWUs completed, spend and whether the week has settled (``settles_by`` null and
    some units, as ``trend?settled=only`` reads it). One efficiency report by team and week."""
    this_monday = now.date() - timedelta(days=now.weekday())
    first = this_monday - timedelta(weeks=weeks)
    query = ReportQuery(
        start=_midnight(first), stop=_midnight(this_monday), group_by=("team", "week")
    )
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for row in efficiency_report(query=query):
        if row["team"] is not None:
            found.setdefault(row["team"], {})[row["period"]] = row
    out: dict[str, list[Week]] = {}
    for team, rows in found.items():
        series = []
        for i in range(weeks):
            start = first + timedelta(weeks=i)
            found_row = rows.get(start.isoformat())
            if found_row is None:
                series.append(Week(start, Decimal(0), Decimal(0), settled=False))
                continue
            series.append(
                Week(
                    start,
                    Decimal(found_row["awus_completed"] or 0),
                    _decimal(found_row["token_cost_usd"]),
                    settled=found_row["settles_by"] is None and found_row["units"] != 0,
                )
            )
        out[team] = series
    return out


@dataclass(frozen=True)
class DailySpend:
    """Per subject key ("team:<slug>" / "person:<id>"): its spend per day, oldest first."""

    days: list[date]
    spend: dict[str, list[Decimal]]


def daily_spend(*, last_day: date, days: int) -> DailySpend:
    """Spend per team and per person on each of the ``days`` UTC days up to ``last_day``,
    from the usage side of the reports (the daily rollups; unpriced usage counts 0).
    Two small GROUP BYs per day."""
    rollups.rollups_ensure_fresh()
    span = [last_day - timedelta(days=days - 1 - i) for i in range(days)]
    spend: dict[str, list[Decimal]] = {}
    for index, day in enumerate(span):
        query = ReportQuery(start=_midnight(day), stop=_midnight(day + timedelta(days=1)))
        for dimension in ("team", "person"):
            for row in side_rows("usage", query, raw=False, group_by=(dimension,), people=False):
                value = row["key"][0]
                if value is None:
                    continue
                cost = priced_cost(row["cost"], row["records"], row["unpriced"]) or Decimal(0)
                series = spend.setdefault(f"{dimension}:{value}", [Decimal(0)] * days)
                series[index] += cost
    return DailySpend(span, spend)


def budgets() -> dict[str, Budget]:
    """Team slug -> its budget."""
    return {b.team.slug: b for b in Budget.objects.select_related("team")}


# --- The listing --------------------------------------------------------------------------


def alerts_list(
    *,
    team_ids: frozenset[int] | None,
    state: str | None = None,
    team: str | None = None,
    rule: str | None = None,
    keyset: Keyset | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    """Alerts newest first (``keyset``'s order), from its cursor on.

    ``team_ids`` limits the listing to alerts about those teams and their
    people's alerts raised while in them (None: every team; an empty set: none):
    the one place a caller's team limits apply. ``state`` "active" means open or
    acknowledged. Returns (rows, the next page's cursor or None).
    """
    qs = alerts_queryset(team_ids=team_ids, state=state, team=team, rule=rule)
    keyset = keyset or Keyset.from_query(order=None, cursor=None)
    alerts = list(keyset.apply(qs)[: limit + 1])
    more = len(alerts) > limit
    alerts = alerts[:limit]
    return [alert_row(a) for a in alerts], keyset.next_cursor(
        alerts[-1].pk if more and alerts else None
    )


def alerts_queryset(
    *,
    team_ids: frozenset[int] | None,
    state: str | None = None,
    team: str | None = None,
    rule: str | None = None,
) -> QuerySet[Alert]:
    qs = Alert.objects.select_related("team", "person")
    if team_ids is not None:
        qs = qs.filter(team_id__in=team_ids)
    if state == "active":
        qs = qs.filter(state__in=(AlertState.OPEN, AlertState.ACKNOWLEDGED))
    elif state is not None:
        qs = qs.filter(state=state)
    if team is not None:
        qs = qs.filter(team__slug=team)
    if rule is not None:
        qs = qs.filter(rule=rule)
    return qs


def alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "state": alert.state,
        "team": alert.team.slug if alert.team is not None else None,
        "person": alert.person_id,
        "person_name": alert.person.name if alert.person is not None else None,
        "period_key": alert.period_key,
        "summary": alert.summary,
        "details": alert.details,
        "opened_at": alert.opened_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by or None,
        "resolved_at": alert.resolved_at,
    }


def team_budget_status(*, slug: str, now: datetime) -> dict[str, Any] | None:
    """The team's budget and this month's spend against it (for the team page), or None."""
    budget = Budget.objects.filter(team__slug=slug).first()
    if budget is None:
        return None
    spend = month_spend_by_team(now=now).get(slug) or Decimal(0)
    start, after = month_bounds(now)
    elapsed = Decimal(max((now - start).total_seconds(), 86400.0)) / Decimal(
        (after - start).total_seconds()
    )
    monthly = Decimal(budget.monthly_usd)
    cent = Decimal("0.01")
    return {
        "monthly_usd": monthly,
        "target": budget.target_awus_per_dollar,
        "spend": spend.quantize(cent),
        "used_pct": (spend / monthly * 100).quantize(Decimal("0.1")),
        "elapsed_pct": (min(elapsed, Decimal(1)) * 100).quantize(Decimal("0.1")),
        "projected": (spend / min(elapsed, Decimal(1))).quantize(cent),
    }
