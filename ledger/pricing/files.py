"""Price book files: price entries as JSON, and the shipped price book.

The shipped list prices, with the source of each, are ``ledger/pricebook/prices.json``
(see the README beside it).
"""

from __future__ import annotations

import dataclasses
import decimal
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.pricing.cost import BASE_RATES, LONG_RATES, PriceEntry, require_aware

#: The shipped price book (published list prices with their sources).
DEFAULT_PRICEBOOK_PATH = Path(__file__).parents[1] / "pricebook" / "prices.json"


def price_entry_to_dict(entry: PriceEntry) -> dict[str, Any]:
    """A JSON-ready dict: decimals as strings, datetimes as RFC 3339 UTC."""
    out: dict[str, Any] = {}
    for item in dataclasses.fields(entry):
        value = getattr(entry, item.name)
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        out[item.name] = value
    return out


def price_entry_from_dict(data: Mapping[str, Any]) -> PriceEntry:
    """Build an entry from :func:`price_entry_to_dict` output (or prices.json).

    Rates must be decimal *strings* (or ints) so no binary float ever enters
    the price book. Raises ``ValueError`` on unknown keys or bad values.
    """
    known = {item.name for item in dataclasses.fields(PriceEntry)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown price entry fields: {sorted(unknown)}")
    kwargs: dict[str, Any] = dict(data)
    for name in BASE_RATES + LONG_RATES:
        if kwargs.get(name) is not None:
            kwargs[name] = decimal_from_text(name, kwargs[name])
    for name in ("effective_from", "effective_to"):
        if kwargs.get(name) is not None:
            kwargs[name] = _parse_datetime(name, kwargs[name])
    return PriceEntry(**kwargs)


def load_pricebook(
    source: Path | str | Mapping[str, Any] = DEFAULT_PRICEBOOK_PATH,
) -> list[PriceEntry]:
    """Read a price book file (or its parsed content) into entries.

    The file is ``{"entries": [<price_entry_to_dict shape>, ...], ...}``;
    other top-level keys (sources, dates seen) are documentation.
    """
    if isinstance(source, Mapping):
        data = source
    else:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    return [price_entry_from_dict(item) for item in data["entries"]]


def decimal_from_text(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{name} must be a decimal string, not {type(value).__name__}")
    try:
        return Decimal(value)
    except decimal.InvalidOperation as exc:
        raise ValueError(f"{name} is not a decimal: {value!r}") from exc


def _parse_datetime(name: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an RFC 3339 string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    require_aware(name, parsed)
    return parsed
