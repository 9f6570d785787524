"""Periods in query strings: ``from`` and ``to`` as dates or RFC 3339 timestamps.

A date is a whole day in UTC and both ends are inclusive (``to=2026-03-31`` covers
all of March 31st); a timestamp is exact, ``from`` inclusive and ``to`` exclusive.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PeriodError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def parse_bound(value: str, *, field: str, end: bool) -> datetime:
    """The instant a ``from`` (end=False) or ``to`` (end=True) value stands for."""
    text = value.strip()
    try:
        if _DATE.match(text):
            day = date.fromisoformat(text)
            start = datetime.combine(day, time.min, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except (ValueError, OverflowError) as exc:
        raise PeriodError(field, "give a date (YYYY-MM-DD) or an RFC 3339 timestamp") from exc
    if moment.tzinfo is None:
        raise PeriodError(field, "a timestamp needs a UTC offset, e.g. 2026-11-01T00:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+14:00
        raise PeriodError(field, "is outside the years 1-9999 in UTC") from exc


def parse_period(
    raw_from: str | None, raw_to: str | None
) -> tuple[datetime | None, datetime | None]:
    """(start inclusive, end exclusive), each None when not given."""
    start = parse_bound(raw_from, field="from", end=False) if raw_from else None
    stop = parse_bound(raw_to, field="to", end=True) if raw_to else None
    if start is not None and stop is not None and stop <= start:
        raise PeriodError("to", "must be after from")
    return start, stop
