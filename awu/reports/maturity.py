"""What units still inside their survival window would add: the projection.

A group's ``projected_awus`` is, over its maturing units, the AWUs of each
(team, definition) part times that part's historical durability: of the units
of that team and definition triggered in the lookback
(``AWU_REPORTS_DURABILITY_LOOKBACK_DAYS`` up to the report's clock) that have
settled as completed or voided, the share completed (the lookback starts on the
first day of its month, so its whole months read the monthly rollups). A part with fewer than
``AWU_REPORTS_DURABILITY_MIN_UNITS`` settled units takes the definition's rate
over every team; a definition with no settled unit at all has no rate, and a
group with maturing AWUs of such a definition has no projection (null).

Two GROUP BYs over the unit rollups, whatever the number of groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from awu.reports.aggregate import GroupKey, side_rows
from awu.reports.query import ReportQuery
from ledger import clock


@dataclass(frozen=True)
class DurabilityHistory:
    """Settled unit counts (completed, settled) per (team, definition) and per definition."""

    parts: dict[tuple[str | None, str], tuple[int, int]]
    definitions: dict[str, tuple[int, int]]
    min_units: int

    def rate(self, team: str | None, definition: str) -> Decimal | None:
        completed, settled = self.parts.get((team, definition), (0, 0))
        if settled < self.min_units:
            completed, settled = self.definitions.get(definition, (0, 0))
        return Decimal(completed) / Decimal(settled) if settled else None


def durability_history(
    *, as_of: datetime | None, raw: bool, teams: frozenset[int] | None = None
) -> DurabilityHistory:
    """The settled units of the lookback, by team and definition (see the module);
    of ``teams`` only for a caller limited to them (so a definition's rate over
    every team is then over those teams: nothing of another team shows through)."""
    now = as_of or clock.now()
    stop = datetime.combine(now.date(), time.min, tzinfo=UTC)
    # From the first of that month: whole months read the monthly rollups.
    start = (stop - timedelta(days=settings.AWU_REPORTS_DURABILITY_LOOKBACK_DAYS)).replace(day=1)
    query = ReportQuery(
        start=start, stop=stop, group_by=("team", "definition"), as_of=as_of, teams=teams
    )
    parts: dict[tuple[str | None, str], tuple[int, int]] = {}
    definitions: dict[str, tuple[int, int]] = {}
    for row in side_rows("units", query, raw=raw, people=False):
        completed, voided = int(row["completed_units"]), int(row["voided_units"])
        team, definition = row["key"]
        parts[(team, definition)] = (completed, completed + voided)
        done, settled = definitions.get(definition, (0, 0))
        definitions[definition] = (done + completed, settled + completed + voided)
    return DurabilityHistory(parts, definitions, settings.AWU_REPORTS_DURABILITY_MIN_UNITS)


def projected_awus(*, query: ReportQuery, raw: bool) -> dict[GroupKey, Decimal | None]:
    """Per group key of ``query``: the AWUs its maturing units are projected to add
    (None where a definition has no history). Groups with no maturing unit are absent."""
    if not query.units_apply:
        return {}
    width = len(query.group_by)
    parts = side_rows(
        "units",
        query,
        raw=raw,
        extra_group=("team", "definition"),
        maturing_only=True,
        people=False,
    )
    if not parts:
        return {}
    history = durability_history(as_of=query.as_of, raw=raw, teams=query.teams)
    out: dict[GroupKey, Decimal | None] = {}
    for part in parts:
        key: GroupKey = part["key"][:width]
        team, definition = part["key"][width:]
        maturing = Decimal(part["awus_maturing"] or 0)
        rate = history.rate(team, definition)
        if key in out and out[key] is None:
            continue
        out[key] = None if rate is None else (out.get(key) or Decimal(0)) + maturing * rate
    return out


def projection_settings() -> dict[str, Any]:
    """How the projection was made, for the report's answer."""
    return {
        "lookback_days": settings.AWU_REPORTS_DURABILITY_LOOKBACK_DAYS,
        "min_settled_units": settings.AWU_REPORTS_DURABILITY_MIN_UNITS,
    }
