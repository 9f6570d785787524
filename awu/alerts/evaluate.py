"""The alert rules: pure decisions over numbers the report selectors answered.

No Django here. Each function takes the figures of one subject and answers a
verdict (the numbers that made it fire) or None. Methods (docs/alerts.md):

- ``spend_pace``: month-to-date spend divided by the elapsed fraction of the
  month (UTC, at least one day elapsed, so the first hours do not project a
  few cents into thousands) is the month's projected spend; it fires when that
  exceeds the budget.
- ``efficiency_drop``: over weeks of one team, oldest first, the last
  ``period_weeks`` weeks ending at the last settled week (every unit of it
  settled, as ``trend?settled=only`` ends) against the ``period_weeks`` weeks
  before them; AWUs per dollar of each; fires when the later fell by more than
  ``drop_pct`` percent. Needs spend in both and AWUs in the earlier.
- ``spend_outlier``: a day's spend against the subject's trailing days (zeros
  included, from its first day with spend); with at least ``min_days`` of them,
  fires when the day exceeds median + max(k x MAD, floor): MAD (median absolute
  deviation) is robust to the outliers it looks for, and the dollar floor keeps
  a steady subject (MAD 0) from alerting on cents.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

ZERO = Decimal(0)


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar month holding ``now``: [first instant, first of the next)."""
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    after = (start + timedelta(days=32)).replace(day=1)
    return start, after


@dataclass(frozen=True)
class PaceVerdict:
    spend: Decimal
    budget: Decimal
    projected: Decimal
    elapsed_fraction: Decimal


def spend_pace(*, spend: Decimal, budget: Decimal, now: datetime) -> PaceVerdict | None:
    """The month's spend projected from ``spend`` so far; a verdict when it exceeds ``budget``."""
    if budget <= 0:
        return None
    start, after = month_bounds(now)
    length = Decimal((after - start).total_seconds())
    elapsed = Decimal(max((now - start).total_seconds(), 86400.0))
    fraction = min(elapsed / length, Decimal(1))
    projected = spend / fraction
    if projected <= budget:
        return None
    return PaceVerdict(spend, budget, projected.quantize(Decimal("0.01")), fraction)


@dataclass(frozen=True)
class Week:
    """One week of a team: its AWUs, its spend (None: unknown) and whether it has settled
    (no open unit; a week with no units at all counts as not settled)."""

    start: date
    awus: Decimal
    spend: Decimal | None
    settled: bool


@dataclass(frozen=True)
class DropVerdict:
    period_start: date
    previous_start: date
    current: Decimal
    previous: Decimal
    drop_pct: Decimal


def efficiency_drop(
    *, weeks: list[Week], period_weeks: int, drop_pct: Decimal
) -> DropVerdict | None:
    """A verdict when AWUs per dollar of the last settled period fell more than ``drop_pct``%."""
    if period_weeks <= 0:
        return None
    settled = [i for i, w in enumerate(weeks) if w.settled]
    if not settled:
        return None
    end = settled[-1] + 1
    if end < 2 * period_weeks:
        return None
    current = weeks[end - period_weeks : end]
    previous = weeks[end - 2 * period_weeks : end - period_weeks]
    now_rate = _rate(current)
    before_rate = _rate(previous)
    if now_rate is None or before_rate is None or before_rate <= 0:
        return None
    drop = (before_rate - now_rate) / before_rate * 100
    if drop <= drop_pct:
        return None
    return DropVerdict(
        current[0].start,
        previous[0].start,
        now_rate.quantize(Decimal("0.000001")),
        before_rate.quantize(Decimal("0.000001")),
        drop.quantize(Decimal("0.1")),
    )


def _rate(weeks: list[Week]) -> Decimal | None:
    if any(w.spend is None for w in weeks):
        return None
    spend = sum((w.spend or ZERO for w in weeks), ZERO)
    if spend <= 0:
        return None
    return sum((w.awus for w in weeks), ZERO) / spend


@dataclass(frozen=True)
class OutlierVerdict:
    spend: Decimal
    median: Decimal
    mad: Decimal
    threshold: Decimal
    days: int


def spend_outlier(
    *, history: list[Decimal], spend: Decimal, k: Decimal, floor: Decimal, min_days: int
) -> OutlierVerdict | None:
    """A verdict when ``spend`` (one day) is an outlier against ``history`` (the trailing days)."""
    if len(history) < max(min_days, 1):
        return None
    median = Decimal(statistics.median(history))
    mad = Decimal(statistics.median([abs(x - median) for x in history]))
    threshold = median + max(k * mad, floor)
    if spend <= threshold:
        return None
    return OutlierVerdict(spend, median, mad, threshold, len(history))
