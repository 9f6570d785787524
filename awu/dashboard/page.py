"""What the dashboard shows, read through the report selectors the API uses.

No numbers are computed here but the comparison's deltas: every figure on the
page is a field of a row that the matching API endpoint answers for the same
``from``/``to`` and filters. This module picks the queries, calls the selectors
and shapes chart series.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from awu.dashboard.periods import Period
from awu.reports.query import ReportQuery, parse_report_query
from awu.reports.reasons import type_words
from awu.reports.selectors import (
    efficiency_report,
    rule_changes,
    spend_deciles,
    trend_report,
    voided_reasons_report,
    work_units_list,
)
from ledger.models import Person
from ledger.query import Keyset

# The headline numbers compared with the previous period.
HEADLINE = (
    "awus_completed",
    "token_cost_usd",
    "awus_per_dollar",
    "cost_per_awu",
    "durability",
    "ai_assisted_share",
    "awus_maturing",
)


@dataclass(frozen=True)
class View:
    """What the page is asked for besides the period: filters and the trend's mode."""

    domain: str | None = None
    ai: str | None = None
    settled_only: bool = False
    # The teams the signed-in person reads (ledger.access): None for every team.
    teams: frozenset[int] | None = None

    @property
    def filters(self) -> dict[str, str]:
        return {k: v for k, v in (("domain", self.domain), ("ai", self.ai)) if v}

    def query(self, period: Period, **extra: str) -> ReportQuery:
        """The report query of ``period`` and the filters; raises ``InvalidInput``."""
        return parse_report_query({**period.params, **self.filters, **extra}, teams=self.teams)

    def links(self, period: Period) -> dict[str, str]:
        """Query strings of the pages for ``period`` and these filters: ``query``
        (every week), ``settled_only`` and ``all_weeks`` (the trend's two modes)."""
        query = "?" + urlencode({**period.params, **self.filters})
        return {"query": query, "settled_only": f"{query}&settled=only", "all_weeks": query}


def _number(value: Any) -> float | None:
    # Charts only: the tables show the API's exact decimal strings.
    return None if value is None else float(value)


def delta(current: Any, previous: Any) -> float | None:
    """The change from ``previous`` to ``current`` as a share of ``previous``; null
    when either is null or ``previous`` is 0 (no base to compare with)."""
    if current is None or previous is None or Decimal(str(previous)) == 0:
        return None
    before = Decimal(str(previous))
    return float(round((Decimal(str(current)) - before) / abs(before), 4))


def ranked(teams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most AWUs per dollar first; low-sample groups and groups with no rate last."""
    return sorted(
        teams,
        key=lambda r: (r["low_sample"], r["awus_per_dollar"] is None, -(r["awus_per_dollar"] or 0)),
    )


def _api_links(period: Period, view: View) -> dict[str, str]:
    f = view.filters
    settled = {"settled": "only"} if view.settled_only else {}
    return {
        "efficiency": period.api("/api/v1/reports/efficiency", **f),
        "teams": period.api("/api/v1/reports/efficiency", group_by="team", **f),
        "deciles": period.api("/api/v1/reports/spend-deciles", **f),
        "trend": period.api("/api/v1/reports/trend", interval="week", **f, **settled),
        "voided": period.api("/api/v1/work-units", state="voided", **f),
        "ai": period.api("/api/v1/reports/efficiency", group_by="team", ai="assisted"),
    }


# How far back "settled weeks only" looks for the last settled week.
SETTLED_LOOKBACK = timedelta(days=182)


def _trend(query: ReportQuery, *, settled_only: bool) -> list[dict[str, Any]]:
    """The weekly trend of ``query``'s period; ``settled_only``: as many weeks,
    ending at the last week whose units have all settled (looking up to
    ``SETTLED_LOOKBACK`` before the period for it)."""
    weekly = trend_report(query=query, interval="week")
    if not settled_only:
        return weekly
    assert query.start is not None
    wider = replace(query, start=query.start - SETTLED_LOOKBACK)
    settled = trend_report(query=wider, interval="week", settled_only=True)
    return settled[-len(weekly) :] if weekly else []


_QUALITY = (
    ("incidents_per_completed_unit", "incidents", "Incidents per completed unit"),
    ("bugs_per_completed_unit", "bugs", "Bugs per completed unit"),
    ("review_hours_per_completed_unit", "review_hours", "Review hours per completed unit"),
)


def _quality_rows(total: dict[str, Any]) -> list[dict[str, Any]]:
    """The quality measures of the total row, all / AI-assisted / other, each cell
    with the numerator and denominator it was computed from."""
    numerators = total.get("quality_numerators") or {}
    denominators = total["denominators"]
    rows = []
    for field, measure, label in _QUALITY:
        cells = []
        for split, units in (("", "completed_units"), ("_ai", "completed_units_ai"),
                             ("_other", "completed_units_other")):  # fmt: skip
            cells.append(
                {
                    "field": f"{field}{split}",
                    "value": total.get(f"{field}{split}"),
                    "numerator": numerators.get(f"{measure}{split}"),
                    "denominator": denominators.get(units),
                }
            )
        rows.append({"label": label, "field": field, "cells": cells})
    return rows


def dashboard_read(*, period: Period, view: View) -> dict[str, Any]:
    """Every section of the page for ``period`` and ``view``: the total row and
    the previous period's, rows per team, spend deciles, weekly trend with rule
    changes, durability of AI-assisted and other work, the top voided reasons,
    and the chart series drawn from them. Raises ``InvalidInput`` on a bad filter."""
    query = view.query(period)
    [total] = efficiency_report(query=query)
    [before] = efficiency_report(query=view.query(period.previous()))
    teams = ranked(efficiency_report(query=replace(query, group_by=("team",))))
    deciles = spend_deciles(query=query)
    trend = _trend(query, settled_only=view.settled_only)
    durability = [
        {"label": label, "ai": ai, **efficiency_report(query=replace(query, ai=ai))[0]}
        for label, ai in (("AI-assisted", "assisted"), ("Other", "not"))
    ]
    voided = [
        {**row, "words": type_words(row["reason"])} for row in voided_reasons_report(query=query)
    ]
    markers = rule_changes(query=query)
    quality = _quality_rows(total)
    charts = {
        "teams": [
            {
                "label": r["team"] or "(no team)",
                "awus_per_dollar": r["awus_per_dollar"],
                "awus_completed": _number(r["awus_completed"]),
                "projected_awus": _number(r["projected_awus"]),
                "token_cost_usd": _number(r["token_cost_usd"]),
                "unpriced_records": r["denominators"]["unpriced_records"],
                "low_sample": r["low_sample"],
            }
            for r in teams
        ],
        "deciles": [
            {
                "decile": r["decile"],
                "people": r["people"],
                "awus_per_dollar": r["awus_per_dollar"],
                "token_cost_usd": _number(r["token_cost_usd"]),
            }
            for r in deciles
        ],
        "trend": [
            {
                "period": r["period"],
                "awus_completed": _number(r["awus_completed"]),
                "projected_awus": _number(r["projected_awus"]),
                "token_cost_usd": _number(r["token_cost_usd"]),
                "awus_per_dollar": r["awus_per_dollar"],
                "settles_by": r["settles_by"],
            }
            for r in trend
        ],
        "markers": [
            {"day": m["published_at"].date().isoformat(), "label": m["label"]} for m in markers
        ],
        "durability": [{"label": r["label"], "durability": r["durability"]} for r in durability],
    }
    return {
        "total": total,
        "previous": before,
        "previous_period": period.previous(),
        "deltas": {name: delta(total[name], before[name]) for name in HEADLINE},
        "teams": teams,
        "deciles": [r for r in deciles if r["people"]],
        "trend": trend,
        "provisional_weeks": sum(1 for r in trend if r["settles_by"] is not None),
        "markers": markers,
        "durability": durability,
        "voided": voided,
        "quality": quality,
        "charts": charts,
        "api": _api_links(period, view),
    }


def team_read(*, period: Period, view: View, team: str) -> dict[str, Any]:
    """A team's total and its people (efficiency by person, the team filter)."""
    query = view.query(period, team=team)
    [total] = efficiency_report(query=query)
    people = ranked(efficiency_report(query=replace(query, group_by=("person",))))
    names = dict(
        Person.objects.filter(pk__in=[r["person"] for r in people if r["person"]]).values_list(
            "pk", "name"
        )
    )
    for row in people:
        row["name"] = names.get(row["person"]) or "(no person)"
    f = view.filters
    return {
        "total": total,
        "people": people,
        "api": {
            "team": period.api("/api/v1/reports/efficiency", team=team, **f),
            "people": period.api("/api/v1/reports/efficiency", team=team, group_by="person", **f),
        },
    }


UNITS_SHOWN = 200


def person_read(*, period: Period, view: View, person: Person) -> dict[str, Any]:
    """A person's total and their work units in the period (newest first, the
    first ``UNITS_SHOWN``; the API pages through the rest)."""
    query = view.query(period, person=str(person.pk))
    [total] = efficiency_report(query=query)
    units, more = work_units_list(
        query=query,
        state=None,
        keyset=Keyset.from_query(order=None, cursor=None),
        limit=UNITS_SHOWN,
    )
    f = view.filters
    return {
        "total": total,
        "units": units,
        "more": more is not None,
        "api": {
            "person": period.api("/api/v1/reports/efficiency", person=str(person.pk), **f),
            "units": period.api("/api/v1/work-units", person=str(person.pk), **f),
        },
    }
