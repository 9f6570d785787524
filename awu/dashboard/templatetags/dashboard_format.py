"""Number formats for people: money as dollars, AWUs as short decimals, ratios to
three significant digits, shares as percents. A missing value (a ratio over an
empty denominator) is an em dash; spend names the usage records it leaves
unpriced. The API's exact values stay in data-value attributes; these only
change how they read."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()

NONE = "—"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def significant(value: float, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant digits, without exponent or
    trailing zeros, with thousands separators (0.0300 -> "0.03", 12345 -> "12,345")."""
    if value == 0:
        return "0"
    places = digits - 1 - math.floor(math.log10(abs(value)))
    if places <= 0:
        return f"{round(value):,}"
    text = f"{value:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def usd(value: Any) -> str:
    """A decimal-string amount as dollars: "1234.5" -> "$1,234.50", cents below $1,000,
    whole dollars above; amounts under a cent keep two significant digits."""
    number = _decimal(value)
    if number is None:
        return NONE
    sign = "-" if number < 0 else ""
    number = abs(number)
    if 0 < number < Decimal("0.01"):
        return f"{sign}${significant(float(number), 2)}"
    step = Decimal(1) if number >= 1000 else Decimal("0.01")
    return f"{sign}${number.quantize(step, rounding=ROUND_HALF_UP):,f}"


@register.filter
def spend(value: Any, unpriced: Any) -> str:
    """Spend with the usage records it leaves out: "$46.00 + 3 unpriced", or
    "unknown (2 unpriced)" when every record is unpriced (the API's null cost)."""
    count = int(unpriced or 0)
    if not count:
        return usd(value)
    if _decimal(value) is None:
        return f"unknown ({count} unpriced)"
    return f"{usd(value)} + {count} unpriced"


@register.filter
def ratio(value: Any) -> str:
    """A rate to three significant digits: 0.033320 -> "0.0333"."""
    number = _decimal(value)
    return NONE if number is None else significant(float(number))


@register.filter
def percent(value: Any) -> str:
    """A share in [0, 1] as a percent with at most one decimal: 0.933333 -> "93.3%"."""
    number = _decimal(value)
    if number is None:
        return NONE
    text = f"{float(number) * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


@register.filter
def awus(value: Any) -> str:
    """An AWU amount, at most two decimals: "3.000000" -> "3", "2.500000" -> "2.5"."""
    number = _decimal(value)
    if number is None:
        return NONE
    text = f"{number.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def raw(value: Any) -> str:
    """The value exactly as the API answers it, for data-value attributes ("" for null)."""
    return "" if value is None else str(value)


@register.filter
def change(value: Any) -> str:
    """A change as a share, signed: 0.125 -> "+12.5%", -0.03 -> "-3%" (a minus
    sign, U+2212); null: "—"."""
    number = _decimal(value)
    if number is None:
        return NONE
    text = percent(abs(number))
    if number > 0:
        return f"+{text}"
    return f"\u2212{text}" if number < 0 else "0%"


@register.filter
def day(value: Any) -> str:
    """An ISO date as "4 Nov 2026" ("—" for null)."""
    if not value:
        return NONE
    year, month, date_ = str(value)[:10].split("-")
    return f"{int(date_)} {MONTHS[int(month) - 1]} {year}"
