"""The period a dashboard page shows: the last N days, this or last quarter, or
any ``from``/``to``; checked by the same rules as the API
(``awu.reports.query.check_range``), refused with the field named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from awu.reports.query import check_range
from ledger.errors import InvalidInput
from ledger.query import parse_period

PERIOD_DAYS = (30, 90, 120)
DEFAULT_DAYS = 30
PRESETS = {"this_quarter": "This quarter", "last_quarter": "Last quarter"}


@dataclass(frozen=True)
class Period:
    """UTC days ``first`` to ``last``, both included. ``preset``: "30", "90",
    "120", "this_quarter", "last_quarter" or "custom"."""

    first: date
    last: date
    preset: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    @property
    def label(self) -> str:
        if self.preset in PRESETS:
            return PRESETS[self.preset]
        if self.preset.isdigit():
            return f"Last {self.preset} days"
        return "From … to"

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        last = self.first - timedelta(days=1)
        return Period(first=last - timedelta(days=self.days - 1), last=last, preset="custom")

    def api(self, path: str, **extra: str) -> str:
        """The API URL that answers the same numbers."""
        return f"{path}?{urlencode({**extra, **self.params})}"


def quarter_start(day: date) -> date:
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def _last_days(days: int, today: date) -> Period:
    return Period(first=today - timedelta(days=days - 1), last=today, preset=str(days))


def period_for(query: Mapping[str, str], *, today: date) -> tuple[Period, dict[str, list[str]]]:
    """The period ``query`` asks for, and the errors that refused it (then the
    default period): ``from``/``to`` (both needed), else ``range`` (this_quarter,
    last_quarter), else ``days`` (30, 90, 120; another value gets 30)."""
    raw_from, raw_to = query.get("from") or "", query.get("to") or ""
    if raw_from or raw_to:
        errors: dict[str, list[str]] = {}
        for name, raw in (("from", raw_from), ("to", raw_to)):
            if not raw:
                errors[name] = ["is needed with the other end of the period"]
            elif len(raw) != 10:
                errors[name] = ["must be a date, YYYY-MM-DD"]
        if not errors:
            try:
                start, stop = parse_period(raw_from, raw_to)
                check_range(start, stop)
            except InvalidInput as refused:
                errors = refused.errors
            else:
                assert start is not None
                assert stop is not None
                last = stop.date() - timedelta(days=1)
                return Period(first=start.date(), last=last, preset="custom"), {}
        return _last_days(DEFAULT_DAYS, today), errors
    preset = query.get("range") or ""
    if preset == "this_quarter":
        return Period(first=quarter_start(today), last=today, preset=preset), {}
    if preset == "last_quarter":
        last = quarter_start(today) - timedelta(days=1)
        return Period(first=quarter_start(last), last=last, preset=preset), {}
    raw_days = query.get("days") or ""
    days = int(raw_days) if raw_days.isdigit() else DEFAULT_DAYS
    return _last_days(days if days in PERIOD_DAYS else DEFAULT_DAYS, today), {}
