"""Query-string parameters, read one way by every listing and report.

A bad value raises ``InvalidInput`` naming the parameter (``{name: [reason]}``),
which the API answers as a 400 and the command line as a usage error.

Periods: ``from`` and ``to`` are dates or RFC 3339 timestamps. A date is a whole
day in UTC and both ends are inclusive (``to=2026-03-31`` covers all of March
31st); a timestamp is exact, ``from`` inclusive and ``to`` exclusive.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from ledger.errors import InvalidInput

Query = QueryDict | Mapping[str, Any]

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
ORDERS = ("newest", "oldest")
# Longer values are refused rather than sent to the database.
MAX_VALUE_LENGTH = 500
_DETAIL = "A query parameter is not valid."


def invalid(name: str, reason: str) -> InvalidInput:
    """The error for one bad parameter."""
    return InvalidInput(_DETAIL, {name: [reason]})


def _checked(name: str, text: str) -> str:
    if "\x00" in text or len(text) > MAX_VALUE_LENGTH:
        raise invalid(name, "not a valid value")
    return text


def text(query: Query, name: str) -> str | None:
    """The value of ``name`` as sent (the last one when repeated); None when empty."""
    value = query.get(name)
    if value is None or value == "":
        return None
    return _checked(name, str(value))


def values(query: Query, name: str) -> list[str]:
    """Every value of ``name``, repeated or comma-separated, stripped, empties dropped."""
    if isinstance(query, QueryDict):
        raw = query.getlist(name)
    else:
        value = query.get(name)
        raw = [] if value is None else (list(value) if isinstance(value, list | tuple) else [value])
    out: list[str] = []
    for item in raw:
        out.extend(part.strip() for part in _checked(name, str(item)).split(",") if part.strip())
    return out


def one(query: Query, name: str) -> str | None:
    """The one value of ``name`` as ``values`` reads it; None when not given."""
    found = values(query, name)
    if len(found) > 1:
        raise invalid(name, "give one value")
    return found[0] if found else None


def choice(value: str | None, name: str, choices: Iterable[str]) -> str | None:
    """``value`` when it is one of ``choices`` (or None)."""
    options = tuple(choices)
    if value is not None and value not in options:
        raise invalid(name, f"one of {', '.join(options)}")
    return value


def _digits(value: str) -> bool:
    # ASCII only: str.isdigit() also holds for "²", which int() refuses.
    return value.isascii() and value.isdigit()


def person_id(value: str | None, name: str = "person") -> int | None:
    """A person id (a positive 64-bit integer), or None when not given."""
    if value is None:
        return None
    if not _digits(value) or not 0 < int(value) < 2**63:
        raise invalid(name, "not a person id")
    return int(value)


def page_limit(value: str | None) -> int:
    """A page size between 1 and MAX_LIMIT; DEFAULT_LIMIT when not given."""
    if value is None:
        return DEFAULT_LIMIT
    if not _digits(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise invalid("limit", f"between 1 and {MAX_LIMIT}")
    return int(value)


def refs(raw: Iterable[str]) -> tuple[str, ...]:
    """``ref`` values (kind:value, all must match)."""
    found = tuple(raw)
    for ref in found:
        if ":" not in ref or len(ref) > 300 or "\x00" in ref:
            raise invalid("ref", "give a ref as kind:value, e.g. commit:9f1c2e7")
    return found


# --- Periods ----------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PeriodError(InvalidInput):
    """A bad ``from``/``to`` (or another bound); ``field`` and ``reason`` say which and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(_DETAIL, {field: [reason]})
        self.field = field
        self.reason = reason


def parse_bound(value: str, *, field: str, end: bool) -> datetime:
    """The instant a ``from`` (end=False) or ``to`` (end=True) value stands for."""
    stripped = value.strip()
    try:
        if _DATE.match(stripped):
            day = date.fromisoformat(stripped)
            start = datetime.combine(day, time.min, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace(" ", "+"))
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


# --- Cursors ----------------------------------------------------------------------------

# A cursor is "<n|o>:<last id shown>": newest first or oldest first. Cursors made
# when every listing was oldest first read "s:<id>" and still page that way.
_CURSOR_ORDERS = {"n": "newest", "o": "oldest", "s": "oldest"}


def encode_cursor(*, order: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{order[0]}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(order, last id shown) of a cursor this API returned."""
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = decoded.partition(":")
        if kind not in _CURSOR_ORDERS or not value.isdigit():
            raise ValueError(kind)
        return _CURSOR_ORDERS[kind], int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid("cursor", "not a cursor this API returned") from exc


@dataclass(frozen=True)
class Keyset:
    """Where a page of a listing by id starts: its order and the last id shown before."""

    order: str = "newest"
    after: int | None = None

    @classmethod
    def from_query(cls, *, order: str | None, cursor: str | None) -> Keyset:
        """From the ``order`` and ``cursor`` parameters.

        A cursor carries the order it was made for: ``order`` may repeat it or be
        left out, but may not contradict it (the pages would skip or repeat rows).
        """
        choice(order, "order", ORDERS)
        if cursor is None:
            return cls(order=order or "newest")
        cursor_order, after = decode_cursor(cursor)
        if order is not None and order != cursor_order:
            raise invalid(
                "order",
                f"the cursor pages {cursor_order} first: give order={cursor_order} or leave it out",
            )
        return cls(order=cursor_order, after=after)

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if self.order == "oldest":
            qs = qs if self.after is None else qs.filter(id__gt=self.after)
            return qs.order_by("id")
        qs = qs if self.after is None else qs.filter(id__lt=self.after)
        return qs.order_by("-id")

    def next_cursor(self, last_id: int | None) -> str | None:
        """The cursor of the page after the one whose last row is ``last_id``."""
        return None if last_id is None else encode_cursor(order=self.order, last_id=last_id)
