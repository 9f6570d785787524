"""LiteLLM's price map (``model_prices_and_context_window.json``) in and out.

Pure: no Django. Per-token JSON numbers become exact per-million Decimals and back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.pricing.cost import PriceEntry, require_aware
from ledger.pricing.files import decimal_from_text
from ledger.pricing.names import normalize_model

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class SkippedModel:
    """A LiteLLM map entry that was not imported, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class LitellmImport:
    """What :func:`import_litellm` produced: the entries and what it skipped."""

    entries: list[PriceEntry] = field(default_factory=list)
    skipped: list[SkippedModel] = field(default_factory=list)


# LiteLLM per-token field -> our per-million field, for the base tier.
_LITELLM_BASE = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_creation_input_token_cost": "cache_write_5m",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "cache_read_input_token_cost": "cache_read",
}
# Long-context fields carry the threshold in their name, in thousands of
# tokens: "input_cost_per_token_above_200k_tokens" (Anthropic), "..._272k_..."
# (OpenAI).
_LITELLM_TIER = re.compile(r"^(?P<base>.+)_above_(?P<k>\d+)k_tokens$")
#: LiteLLM ``mode`` values priced per text token like a chat completion.
LITELLM_CHAT_MODES = frozenset({"chat", "responses"})


def import_litellm(
    json_obj: Mapping[str, Any],
    *,
    effective_from: datetime,
    providers: Collection[str] | None = None,
) -> LitellmImport:
    """Read LiteLLM's ``model_prices_and_context_window.json`` map.

    Each key becomes one entry: ``provider`` is its ``litellm_provider``,
    ``model`` the normalised key, ``match`` empty (the key is already the exact
    id LiteLLM prices), in force from ``effective_from``, open-ended. Per-token
    numbers are converted exactly (through their shortest ``repr``, never by
    float arithmetic) and scaled to per million.

    Skipped, with a reason each: ``sample_spec``; modes other than
    :data:`LITELLM_CHAT_MODES`; providers not in ``providers`` (when given);
    entries without both input and output token prices; entries whose prices
    are not numbers; long-context fields without input and output long rates
    or with two different thresholds; duplicate normalised ids (first kept).
    """
    require_aware("effective_from", effective_from)
    wanted = None if providers is None else {p.strip().lower() for p in providers}
    result = LitellmImport()
    seen: set[tuple[str, str]] = set()
    for key, spec in json_obj.items():
        if key == "sample_spec":
            result.skipped.append(SkippedModel(key, "documentation entry"))
            continue
        if not isinstance(spec, Mapping):
            result.skipped.append(SkippedModel(key, "not an object"))
            continue
        provider = str(spec.get("litellm_provider") or "").strip().lower()
        mode = spec.get("mode")
        if mode not in LITELLM_CHAT_MODES:
            result.skipped.append(SkippedModel(key, f"mode {mode!r} is not priced per chat token"))
            continue
        if not provider:
            result.skipped.append(SkippedModel(key, "no litellm_provider"))
            continue
        if wanted is not None and provider not in wanted:
            result.skipped.append(SkippedModel(key, f"provider {provider!r} not requested"))
            continue
        try:
            entry = _entry_from_litellm(key, spec, provider=provider, effective_from=effective_from)
        except ValueError as exc:
            result.skipped.append(SkippedModel(key, str(exc)))
            continue
        identity = (entry.provider, entry.model)
        if identity in seen:
            result.skipped.append(SkippedModel(key, f"duplicate of {entry.model!r}"))
            continue
        seen.add(identity)
        result.entries.append(entry)
    return result


def _entry_from_litellm(
    key: str, spec: Mapping[str, Any], *, provider: str, effective_from: datetime
) -> PriceEntry:
    rates: dict[str, Decimal] = {}
    thresholds: set[int] = set()
    for litellm_name, value in spec.items():
        tier = _LITELLM_TIER.match(litellm_name)
        base_name = tier.group("base") if tier else litellm_name
        ours = _LITELLM_BASE.get(base_name)
        if ours is None:
            continue
        if tier:
            thresholds.add(int(tier.group("k")) * 1000)
            ours = f"{ours}_long"
        rates[ours] = _per_million(litellm_name, value)
    if "input" not in rates or "output" not in rates:
        raise ValueError("no input and output token prices")
    if len(thresholds) > 1:
        raise ValueError(f"several long-context thresholds: {sorted(thresholds)}")
    threshold = thresholds.pop() if thresholds else None
    if threshold is not None and ("input_long" not in rates or "output_long" not in rates):
        raise ValueError("long-context prices without input and output long rates")
    source = spec.get("source")
    fields: dict[str, Any] = {
        "provider": provider,
        "model": normalize_model(key),
        "effective_from": effective_from,
        "long_context_threshold": threshold,
        "source_url": source if isinstance(source, str) else "",
        "note": f"imported from the LiteLLM price map key {key!r}",
        **rates,
    }
    return PriceEntry(**fields)


def _per_million(name: str, value: Any) -> Decimal:
    """A LiteLLM per-token number as an exact per-million Decimal."""
    if isinstance(value, bool):
        raise ValueError(f"{name} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} is not finite")
        # repr is the shortest text that reads back as this float: the number
        # as written in the JSON file, without binary noise.
        exact = Decimal(repr(value))
    elif isinstance(value, int | Decimal):
        exact = Decimal(value)
    elif isinstance(value, str):
        exact = decimal_from_text(name, value)
    else:
        raise ValueError(f"{name} is not a number")
    if not exact.is_finite() or exact < 0:
        raise ValueError(f"{name} must be finite and non-negative")
    return _plain(exact * _MILLION)


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def export_litellm(entries: Iterable[PriceEntry]) -> dict[str, dict[str, Any]]:
    """Entries as a LiteLLM price map, keyed by model id.

    Uses the same field names :func:`import_litellm` reads, ``mode`` ``"chat"``
    and ``source`` for :attr:`PriceEntry.source_url`. Per-token values are
    JSON numbers (``float``) that are exact: each is a per-token decimal of at
    most 15 significant digits, which a double and its shortest ``repr``
    reproduce exactly; a value needing more digits raises ``ValueError``
    rather than being rounded. Later entries of the same model replace
    earlier ones (a map has one price per model).
    """
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        item: dict[str, Any] = {"litellm_provider": entry.provider, "mode": "chat"}
        for litellm_name, ours in _LITELLM_BASE.items():
            _put_per_token(item, litellm_name, getattr(entry, ours))
        if entry.long_context_threshold is not None:
            if entry.long_context_threshold % 1000:
                raise ValueError(f"{entry.model}: LiteLLM names thresholds in thousands of tokens")
            suffix = f"_above_{entry.long_context_threshold // 1000}k_tokens"
            for litellm_name, ours in _LITELLM_BASE.items():
                _put_per_token(item, litellm_name + suffix, getattr(entry, f"{ours}_long"))
        if entry.source_url:
            item["source"] = entry.source_url
        out[entry.model] = item
    return out


def _put_per_token(item: dict[str, Any], name: str, per_million: Decimal | None) -> None:
    if per_million is None:
        return
    per_token = (per_million / _MILLION).normalize()
    as_float = float(per_token)
    if Decimal(repr(as_float)) != per_token:
        raise ValueError(f"{name}={per_token} cannot be written exactly as a JSON number")
    item[name] = as_float
