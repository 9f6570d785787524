"""What the dashboard shows, read through the report selectors the API uses.

No numbers are computed here: every figure on the page is a field of a row
that the matching API endpoint answers for the same ``from``/``to``. This
module only picks the period, calls the selectors and shapes chart series.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from awu.reports.query import ReportQuery, parse_report_query
from awu.reports.selectors import (
    efficiency_report,
    spend_deciles,
    trend_report,
    voided_reasons_report,
)

PERIOD_DAYS = (30, 90, 120)
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """The last ``days`` UTC days up to and including ``last``, as API parameters."""

    days: int
    first: date
    last: date

    @property
    def params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    def api(self, path: str, **extra: str) -> str:
        """The API URL that answers the same numbers (for analysts holding a key)."""
        return f"{path}?{urlencode({**extra, **self.params})}"


def period_for(raw_days: str | None, *, today: date) -> Period:
    """The period the ``days`` query value asks for; an unknown value gets the default."""
    days = int(raw_days) if raw_days and raw_days.isdigit() else DEFAULT_DAYS
    if days not in PERIOD_DAYS:
        days = DEFAULT_DAYS
    return Period(days=days, first=today - timedelta(days=days - 1), last=today)


def _number(value: Any) -> float | None:
    # Charts only: the tables show the API's exact decimal strings.
    return None if value is None else float(value)


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


def dashboard_read(*, period: Period) -> dict[str, Any]:
    """Every section of the page for ``period``: the total row, rows per team,
    spend deciles, weekly trend, durability of AI-assisted and other work, the
    top voided reasons, and the chart series drawn from them."""
    query: ReportQuery = parse_report_query(period.params)
    [total] = efficiency_report(query=query)
    teams = efficiency_report(query=replace(query, group_by=("team",)))
    # Most AWUs per dollar first; teams with no rate (no spend) last.
    teams.sort(key=lambda r: (r["awus_per_dollar"] is None, -(r["awus_per_dollar"] or 0)))
    deciles = spend_deciles(query=query)
    trend = trend_report(query=query, interval="week")
    durability = [
        {"label": label, "ai": ai, **efficiency_report(query=replace(query, ai=ai))[0]}
        for label, ai in (("AI-assisted", "assisted"), ("Other", "not"))
    ]
    voided = voided_reasons_report(query=query)
    quality = _quality_rows(total)
    charts = {
        "teams": [
            {
                "label": r["team"] or "(no team)",
                "awus_per_dollar": r["awus_per_dollar"],
                "awus_completed": _number(r["awus_completed"]),
                "token_cost_usd": _number(r["token_cost_usd"]),
                "unpriced_records": r["denominators"]["unpriced_records"],
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
                "token_cost_usd": _number(r["token_cost_usd"]),
                "awus_per_dollar": r["awus_per_dollar"],
            }
            for r in trend
        ],
        "durability": [{"label": r["label"], "durability": r["durability"]} for r in durability],
    }
    return {
        "total": total,
        "teams": teams,
        "deciles": [r for r in deciles if r["people"]],
        "trend": trend,
        "durability": durability,
        "voided": voided,
        "quality": quality,
        "charts": charts,
        "api": {
            "efficiency": period.api("/api/v1/reports/efficiency"),
            "teams": period.api("/api/v1/reports/efficiency", group_by="team"),
            "deciles": period.api("/api/v1/reports/spend-deciles"),
            "trend": period.api("/api/v1/reports/trend", interval="week"),
            "voided": period.api("/api/v1/work-units", state="voided"),
        },
    }
