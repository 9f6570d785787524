"""Report parameters: parsed and checked once, from the query string.

Every problem is a 400 in the API's one error shape (``ledger.http.ApiError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django.http import QueryDict

from ledger.http import ApiError
from ledger.periods import PeriodError, parse_bound, parse_period

DIMENSIONS = ("team", "person", "domain", "definition", "model", "week", "month")
PERIODS = ("week", "month")
BASES = ("triggered", "completed")
AI_VALUES = ("assisted", "not")
# A report spanning more periods than this is refused (a week grouping over decades).
MAX_PERIODS = 1000


def invalid(field: str, reason: str) -> ApiError:
    return ApiError(400, "validation_error", "A query parameter is not valid.", {field: [reason]})


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


def _values(query: QueryDict | Mapping[str, Any], name: str) -> list[str]:
    if isinstance(query, QueryDict):
        raw = query.getlist(name)
    else:
        value = query.get(name)
        raw = [] if value is None else (list(value) if isinstance(value, list | tuple) else [value])
    out: list[str] = []
    for item in raw:
        text = str(item)
        if "\x00" in text or len(text) > 500:
            raise invalid(name, "not a valid value")
        out.extend(part.strip() for part in text.split(",") if part.strip())
    return out


def _one(query: QueryDict | Mapping[str, Any], name: str) -> str | None:
    values = _values(query, name)
    if len(values) > 1:
        raise invalid(name, "give one value")
    return values[0] if values else None


def _choice(value: str | None, name: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise invalid(name, f"one of {', '.join(choices)}")
    return value


def parse_report_query(
    query: QueryDict | Mapping[str, Any],
    *,
    allowed_group_by: tuple[str, ...] = DIMENSIONS,
) -> ReportQuery:
    """The report parameters in ``query``; raises ApiError (400) on a bad one."""
    try:
        start, stop = parse_period(_one(query, "from"), _one(query, "to"))
        raw_as_of = _one(query, "as_of")
        as_of = parse_bound(raw_as_of, field="as_of", end=True) if raw_as_of else None
    except PeriodError as exc:
        raise invalid(exc.field, exc.reason) from exc
    group_by = tuple(dict.fromkeys(_values(query, "group_by")))
    for item in group_by:
        _choice(item, "group_by", allowed_group_by)
    if sum(1 for g in group_by if g in PERIODS) > 1:
        raise invalid("group_by", "group by week or by month, not both")
    if any(g in PERIODS for g in group_by) and (start is None or stop is None):
        raise invalid("from", "grouping by week or month needs both from and to")
    if start is not None and stop is not None and (stop - start).days > 7 * MAX_PERIODS:
        raise invalid("to", f"a report spans at most {7 * MAX_PERIODS} days")
    person = _one(query, "person")
    if person is not None and (not person.isdigit() or not 0 < int(person) < 2**63):
        raise invalid("person", "not a person id")
    return ReportQuery(
        start=start,
        stop=stop,
        group_by=group_by,
        basis=_choice(_one(query, "basis"), "basis", BASES) or "triggered",
        as_of=as_of,
        team=_one(query, "team"),
        person=int(person) if person is not None else None,
        domain=_one(query, "domain"),
        definition=_one(query, "definition"),
        source=_one(query, "source"),
        provider=_one(query, "provider"),
        model=_one(query, "model"),
        ai=_choice(_one(query, "ai"), "ai", AI_VALUES),
    )
