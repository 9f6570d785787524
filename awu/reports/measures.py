"""From summed sides to report rows: the ratios, their denominators, the shape.

Rules (docs/reports.md): a ratio over an empty denominator is null; spend and
no AWUs is 0 AWUs per dollar; AWUs and no spend is a cost per AWU of 0 (and
AWUs per dollar null). Spend that is all unpriced has an unknown cost: null,
and so are the ratios over it; partly unpriced spend shows its priced cost and
``denominators.unpriced_records`` says how many records that leaves out. Money
and AWU amounts are exact decimal strings; rates are numbers rounded to 6 places.

Units still open (pending) make a group's figures provisional: ``awus_maturing``
(those inside their survival window), ``projected_awus`` (their AWUs at the
historical durability, ``awu.reports.maturity``) and ``settles_by`` (the day the
last of them settles; null: every unit of the group has settled, its figures are
final). ``low_sample``: too few units or too little spend to rank the group.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from awu.reports.aggregate import GroupKey
from awu.reports.query import ReportQuery

MONEY = Decimal("0.000000001")
AMOUNT = Decimal("0.000001")
TIE_STATES = ("completed", "voided", "pending", "expired", "none")
ZERO = Decimal(0)


def money(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(MONEY), "f")


def amount(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(AMOUNT), "f")


def rate(numerator: Decimal, denominator: Decimal) -> float | None:
    if denominator == 0:
        return None
    return float(round(Decimal(numerator) / Decimal(denominator), 6))


def priced_cost(cost: Any, records: Any, unpriced: Any) -> Decimal | None:
    """The priced cost of summed usage: None (unknown) when every record of it is
    unpriced; an unpriced record adds nothing to ``cost``, never a silent $0."""
    if int(records or 0) > 0 and int(unpriced or 0) >= int(records or 0):
        return None
    return Decimal(cost or ZERO)


def _key_value(dimension: str, value: Any) -> Any:
    if dimension in ("week", "month") and value is not None:
        return value.isoformat()
    return value


def rows_from_sides(
    query: ReportQuery,
    sides: dict[str, list[dict[str, Any]]],
    *,
    dimensions: tuple[str, ...] | None = None,
    projected: dict[GroupKey, Decimal | None] | None = None,
) -> list[dict[str, Any]]:
    """Merge the sides per group key and compute every measure of a report row;
    ``projected`` holds the groups' projected AWUs (``awu.reports.maturity``)."""
    dims = dimensions if dimensions is not None else query.group_by
    merged: dict[GroupKey, dict[str, dict[str, Any]]] = {}
    for side, side_rows in sides.items():
        for part in side_rows:
            merged.setdefault(part["key"], {})[side] = part
    if not dims and not merged:
        merged[()] = {}
    units_apply, spend_applies = query.units_apply, query.spend_applies
    out = []
    for key in sorted(merged, key=lambda k: tuple((v is None, str(v)) for v in k)):
        parts = merged[key]
        row: dict[str, Any] = {
            ("period" if d in ("week", "month") else d): _key_value(d, v)
            for d, v in zip(dims, key, strict=True)
        }
        units = parts.get("units", {})
        usage = parts.get("usage", {})
        completed = Decimal(parts.get("entries", {}).get("awus_completed") or ZERO)
        voided = Decimal(units.get("awus_voided") or ZERO)
        cost = priced_cost(usage.get("cost"), usage.get("records"), usage.get("unpriced"))
        completed_units = int(units.get("completed_units") or 0)
        # United in C (a year-long team row unites thousands of ids per side).
        people = set().union(*(part.get("people") or () for part in parts.values()))
        people.discard(None)
        row.update(
            awus_completed=amount(completed) if units_apply else None,
            awus_pending=amount(Decimal(units.get("awus_pending") or ZERO))
            if units_apply
            else None,
            awus_voided=amount(voided) if units_apply else None,
            awus_expired=amount(Decimal(units.get("awus_expired") or ZERO))
            if units_apply
            else None,
            units=int(units.get("unit_count") or 0) if units_apply else None,
            token_cost_usd=money(cost) if spend_applies else None,
            tokens=(
                {
                    name: int(usage.get(name) or 0)
                    for name in (
                        "input_tokens",
                        "output_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    )
                }
                if spend_applies
                else None
            ),
        )
        both = units_apply and spend_applies
        # Spend with no AWUs buys 0 AWUs per dollar; no spend leaves it undefined,
        # and so does an unknown cost (every record unpriced).
        row["awus_per_dollar"] = rate(completed, cost) if both and cost is not None else None
        # AWUs with no spend cost 0 each; no AWUs (or an unknown cost) leaves it undefined.
        row["cost_per_awu"] = (
            money(cost / completed) if both and cost is not None and completed > 0 else None
        )
        row["durability"] = rate(completed, completed + voided) if units_apply else None
        row.update(_maturity(units, (projected or {}).get(key, ZERO), units_apply))
        row["low_sample"] = low_sample(
            int(units.get("unit_count") or 0) if units_apply else None,
            cost if spend_applies else None,
        )
        row["ai_assisted_share"] = (
            rate(Decimal(int(units.get("ai_completed_units") or 0)), Decimal(completed_units))
            if units_apply
            else None
        )
        if spend_applies:
            # Shares of the priced spend; all of it unknown: unknown where it went.
            tied = {
                s: Decimal(usage.get(f"tied_{s}") or ZERO) if cost is not None else None
                for s in TIE_STATES
            }
            row["spend_tied_usd"] = {s: money(v) for s, v in tied.items()}
            row["spend_tied_share"] = {
                s: rate(v, cost) if v is not None and cost is not None else None
                for s, v in tied.items()
            }
        else:
            row["spend_tied_usd"] = None
            row["spend_tied_share"] = None
        row.update(_quality(units, completed_units) if units_apply else _NO_QUALITY)
        ai_completed = int(units.get("ai_completed_units") or 0)
        row["denominators"] = {
            "units": int(units.get("unit_count") or 0) if units_apply else None,
            "completed_units": completed_units if units_apply else None,
            "completed_units_ai": ai_completed if units_apply else None,
            "completed_units_other": completed_units - ai_completed if units_apply else None,
            "usage_records": int(usage.get("records") or 0) if spend_applies else None,
            "unpriced_records": int(usage.get("unpriced") or 0) if spend_applies else None,
            "people": len(people),
            "pending_units": int(units.get("pending_units") or 0) if units_apply else None,
            "maturing_units": int(units.get("maturing_units") or 0) if units_apply else None,
        }
        out.append(row)
    return out


def _maturity(units: dict[str, Any], projected: Decimal | None, applies: bool) -> dict[str, Any]:
    if not applies:
        return {"awus_maturing": None, "projected_awus": None, "settles_by": None}
    settles_by = units.get("settles_by")
    return {
        "awus_maturing": amount(Decimal(units.get("awus_maturing") or ZERO)),
        "projected_awus": amount(projected),
        "settles_by": settles_by.isoformat() if settles_by is not None else None,
    }


def low_sample(units: int | None, cost: Decimal | None) -> bool:
    """True when a group has fewer work units (where units apply) or less priced
    spend (where spend applies and is known) than the documented thresholds."""
    few_units = units is not None and units < settings.AWU_REPORTS_LOW_SAMPLE_UNITS
    little_spend = cost is not None and cost < Decimal(str(settings.AWU_REPORTS_LOW_SAMPLE_USD))
    return few_units or little_spend


# The quality measures (docs/reports.md), each over completed units, in all and split
# by AI assistance: (field, numerator).
QUALITY = (
    ("incidents_per_completed_unit", "incidents"),
    ("bugs_per_completed_unit", "bugs"),
    ("review_hours_per_completed_unit", "review_hours"),
)
_NO_QUALITY: dict[str, Any] = {
    **{f"{field}{split}": None for field, _ in QUALITY for split in ("", "_ai", "_other")},
    "quality_numerators": None,
}


def _quality(units: dict[str, Any], completed: int) -> dict[str, Any]:
    """The quality rates of a row and their numerators (``completed_units`` and its
    ``_ai``/``_other`` parts are the denominators)."""
    ai_completed = int(units.get("ai_completed_units") or 0)
    denominators = {"": completed, "_ai": ai_completed, "_other": completed - ai_completed}
    out: dict[str, Any] = {}
    numerators: dict[str, Any] = {}
    for field, measure in QUALITY:
        for split, denominator in denominators.items():
            value = Decimal(units.get(f"{measure}{split}") or ZERO)
            out[f"{field}{split}"] = rate(value, Decimal(denominator))
            numerators[f"{measure}{split}"] = (
                amount(value) if measure == "review_hours" else int(value)
            )
    out["quality_numerators"] = numerators
    return out


def sides_for(
    query: ReportQuery, *, raw: bool, periods: bool | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Run the sides that apply to ``query`` (``periods`` as in ``side_rows``)."""
    from awu.reports.aggregate import side_rows

    sides: dict[str, list[dict[str, Any]]] = {}
    if query.units_apply:
        sides["units"] = side_rows("units", query, raw=raw, periods=periods)
        sides["entries"] = side_rows("entries", query, raw=raw, periods=periods)
    if query.spend_applies:
        sides["usage"] = side_rows("usage", query, raw=raw, periods=periods)
    return sides
