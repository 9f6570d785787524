"""The price book: published per-token list prices as data, and pure pricing.

This module imports nothing from Django so the same code prices a record at
ingest, in a reprice dry run, in the admin and in tests. The ``ModelPrice``
model stores exactly the fields of :class:`PriceEntry`.

Units and precision
-------------------
* Every rate is USD per **million** tokens, a :class:`~decimal.Decimal`.
* :func:`compute_cost` multiplies exactly and rounds once, half-even, to
  :data:`COST_QUANTUM` (nine decimal places: database ``numeric(18, 9)``), so
  one token of a $3/M model costs exactly ``0.000003000``.

Token kinds
-----------
The five token counts are disjoint, as in Anthropic's ``usage`` object:
``input`` is uncached prompt input only; cache writes (5 minute and 1 hour) and
cache reads are counted separately. Callers holding OpenAI-style usage (where
``prompt_tokens`` *includes* ``cached_tokens``) subtract the cached tokens from
the input first.

A kind without a price of its own in the entry (OpenAI has no cache-write
premium, so its entries leave the cache-write rates empty) is billed at the
plain input rate of the tier in force. Where a vendor does price the kind but
the entry lacks the rate (a 1 hour write where only the 5 minute write is
known, a long-context rate missing while the base rate exists), no price is
defensible: :func:`compute_cost` raises :class:`MissingRateError` and the
caller stores the record unpriced, never at $0.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "COST_QUANTUM",
    "DEFAULT_PRICEBOOK_PATH",
    "LitellmImport",
    "MissingRateError",
    "PriceEntry",
    "SkippedModel",
    "compute_cost",
    "export_litellm",
    "find_price",
    "import_litellm",
    "load_pricebook",
    "normalize_model",
    "price_entry_from_dict",
    "price_entry_to_dict",
    "uses_long_context",
]

#: Costs are rounded once, half-even, to this quantum (``numeric(18, 9)``).
COST_QUANTUM = Decimal("0.000000001")

#: The shipped price book (published list prices with their sources).
DEFAULT_PRICEBOOK_PATH = Path(__file__).parents[1] / "pricebook" / "prices.json"

_MILLION = Decimal(1_000_000)

# Names of the rate fields, base tier then long-context tier, in one place so
# validation, (de)serialisation and the LiteLLM mapping cannot drift apart.
_BASE_RATES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_LONG_RATES = tuple(f"{name}_long" for name in _BASE_RATES)
_OPTIONAL_BASE_RATES = ("cache_write_5m", "cache_write_1h", "cache_read")

TokenKind = Literal["input", "output", "cache_write_5m", "cache_write_1h", "cache_read"]
Tier = Literal["auto", "base", "long"]


class MissingRateError(ValueError):
    """The entry has no defensible rate for tokens that were used.

    The record must be stored unpriced (flagged and counted), not at $0.
    """


@dataclass(frozen=True, kw_only=True)
class PriceEntry:
    """One effective-dated list price of one model.

    Fields (the ``ModelPrice`` table stores exactly these):

    ``provider``
        Lower-case vendor whose list price this is: ``"anthropic"``,
        ``"openai"``, or a LiteLLM provider name for imported entries.
    ``model``
        Canonical model id as the vendor's API names it
        (``"claude-sonnet-4-5"``). A usage record whose normalised model equals
        it always matches (see :func:`normalize_model`).
    ``match``
        Zero or more shell-style globs, separated by spaces, matched
        case-sensitively against the normalised model id with
        :func:`fnmatch.fnmatchcase` (``*``, ``?``, ``[...]``). They cover dated
        snapshots and aliases: ``"claude-sonnet-4-5-*"`` matches
        ``claude-sonnet-4-5-20250929``. Keep globs tight: ``"claude-opus-4*"``
        would also catch Opus 4.5 should that entry be missing.
    ``effective_from`` / ``effective_to``
        Aware datetimes; the entry is in force for ``from <= t < to``
        (``to`` ``None``: open-ended). Stored in UTC.
    ``input``, ``output``, ``cache_write_5m``, ``cache_write_1h``, ``cache_read``
        USD per million tokens. ``input`` and ``output`` are required; an empty
        cache rate means the vendor bills that kind as plain input.
    ``long_context_threshold``
        Prompt size in tokens above which the whole request is billed at the
        ``*_long`` rates (see :func:`uses_long_context`). ``None``: one tier.
    ``input_long`` ... ``cache_read_long``
        The long-context rates; ``input_long`` and ``output_long`` are required
        when a threshold is set, and all must be empty when it is not.
    ``source_url``, ``note``
        Where the price was read (and when, in the note), so every dollar can
        be traced to a published number.
    """

    provider: str
    model: str
    match: str = ""
    effective_from: datetime
    effective_to: datetime | None = None
    input: Decimal
    output: Decimal
    cache_write_5m: Decimal | None = None
    cache_write_1h: Decimal | None = None
    cache_read: Decimal | None = None
    long_context_threshold: int | None = None
    input_long: Decimal | None = None
    output_long: Decimal | None = None
    cache_write_5m_long: Decimal | None = None
    cache_write_1h_long: Decimal | None = None
    cache_read_long: Decimal | None = None
    source_url: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if not self.provider or self.provider != self.provider.strip().lower():
            raise ValueError(f"provider must be lower-case and non-empty: {self.provider!r}")
        if not self.model or self.model != normalize_model(self.model):
            raise ValueError(f"model must be a normalised model id: {self.model!r}")
        _require_aware("effective_from", self.effective_from)
        if self.effective_to is not None:
            _require_aware("effective_to", self.effective_to)
            if self.effective_to <= self.effective_from:
                raise ValueError("effective_to must be after effective_from")
        # Normalise to UTC so equality and ordering never depend on the offset.
        object.__setattr__(self, "effective_from", self.effective_from.astimezone(UTC))
        if self.effective_to is not None:
            object.__setattr__(self, "effective_to", self.effective_to.astimezone(UTC))
        for name in _BASE_RATES + _LONG_RATES:
            value = getattr(self, name)
            if value is None:
                if name in ("input", "output"):
                    raise ValueError(f"{name} is required")
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative Decimal: {value!r}")
        threshold = self.long_context_threshold
        if threshold is None:
            present = [name for name in _LONG_RATES if getattr(self, name) is not None]
            if present:
                raise ValueError(f"long-context rates without a threshold: {present}")
        else:
            if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
                raise ValueError("long_context_threshold must be a positive int")
            if self.input_long is None or self.output_long is None:
                raise ValueError("input_long and output_long are required with a threshold")

    @property
    def patterns(self) -> tuple[str, ...]:
        """The globs of :attr:`match`, in order."""
        return tuple(self.match.split())

    def in_force(self, at: datetime) -> bool:
        """Whether the entry applies at the aware instant ``at``."""
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)

    def specificity(self, model: str) -> int | None:
        """How specifically this entry matches the normalised ``model``.

        ``None`` when it does not match. An exact match on :attr:`model` ranks
        above every glob; among globs the one with the most literal
        (non-wildcard) characters wins.
        """
        if model == self.model:
            return 1_000_000
        scores = [_literal_chars(p) for p in self.patterns if fnmatchcase(model, p)]
        return max(scores) if scores else None


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


# --- model ids --------------------------------------------------------------

# Bedrock ids: optional inference-profile region ("us.", "eu.", "apac.",
# "global.", ...), the vendor ("anthropic."), then the id and "-v1:0".
_BEDROCK_PREFIX = re.compile(r"^(?:[a-z]{2,6}\.)?(?:anthropic|openai|meta|amazon|cohere)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
# The ":0" form is Bedrock's alone, so it is dropped even without a prefix
# (LiteLLM keys some Bedrock models as "claude-sonnet-4-5-20250929-v1:0").
_BEDROCK_COLON_VERSION = re.compile(r"-v\d+:\d+$")
# Claude Code names the 1M-context variant "claude-sonnet-4-5[1m]"; the price
# tier follows from the token counts, not the name.
_CONTEXT_SUFFIX = re.compile(r"\[[0-9a-z]+\]$")
_CLAUDE_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")


def normalize_model(raw: str) -> str:
    """Return the vendor's plain model id for ``raw`` as tools report it.

    * surrounding space dropped, lower-cased;
    * gateway/provider path prefixes dropped: ``anthropic/claude-opus-4-5`` and
      ``openrouter/anthropic/claude-opus-4-5`` become ``claude-opus-4-5``;
    * Bedrock ids lose the region profile, vendor and version:
      ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` becomes
      ``claude-sonnet-4-5-20250929``;
    * Vertex AI's ``claude-sonnet-4-5@20250929`` becomes
      ``claude-sonnet-4-5-20250929``;
    * a context-size tag like ``[1m]`` is dropped;
    * Claude version dots become dashes (``claude-sonnet-4.5`` is
      ``claude-sonnet-4-5``); other vendors keep their dots (``gpt-4.1``).
    """
    model = raw.strip().lower()
    model = model.rsplit("/", 1)[-1]
    model = _CONTEXT_SUFFIX.sub("", model)
    if _BEDROCK_PREFIX.match(model):
        model = _BEDROCK_PREFIX.sub("", model, count=1)
        model = _BEDROCK_VERSION.sub("", model)
    model = _BEDROCK_COLON_VERSION.sub("", model)
    model = model.replace("@", "-")
    if model.startswith("claude"):
        model = _CLAUDE_DOTTED_VERSION.sub("-", model)
    return model


def _literal_chars(pattern: str) -> int:
    """Characters of ``pattern`` that must match literally."""
    count = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char in "*?":
            i += 1
            continue
        if char == "[":
            end = pattern.find("]", i + 2)
            if end != -1:
                i = end + 1
                continue
        count += 1
        i += 1
    return count


# --- lookup -----------------------------------------------------------------


def find_price(
    entries: Iterable[PriceEntry], *, provider: str, model: str, at: datetime
) -> PriceEntry | None:
    """The entry that prices ``model`` of ``provider`` at the instant ``at``.

    ``model`` is normalised first (see :func:`normalize_model`); ``provider``
    is compared lower-cased. Among entries in force at ``at``
    (``effective_from <= at < effective_to``), the most specific match wins
    (see :meth:`PriceEntry.specificity`); a tie goes to the latest
    ``effective_from``, then to the lowest ``(model, match)`` so the answer
    never depends on the order of ``entries``.

    Returns ``None`` when nothing matches: the usage is *unpriced*.
    Raises ``ValueError`` for a naive ``at``.
    """
    _require_aware("at", at)
    wanted_provider = provider.strip().lower()
    wanted_model = normalize_model(model)
    best: PriceEntry | None = None
    best_key: tuple[int, datetime, str, str] | None = None
    for entry in entries:
        if entry.provider != wanted_provider or not entry.in_force(at):
            continue
        score = entry.specificity(wanted_model)
        if score is None:
            continue
        key = (score, entry.effective_from, entry.model, entry.match)
        if best_key is None or _better(key, best_key):
            best, best_key = entry, key
    return best


def _better(key: tuple[int, datetime, str, str], than: tuple[int, datetime, str, str]) -> bool:
    if key[:2] != than[:2]:
        return key[:2] > than[:2]
    return key[2:] < than[2:]


# --- cost -------------------------------------------------------------------


def uses_long_context(
    entry: PriceEntry,
    *,
    input_tokens: int,
    cache_write_5m_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> bool:
    """Whether one request is billed at the entry's long-context rates.

    Anthropic's rule, applied to every tiered entry: the prompt is all input
    tokens of the request, cached or not (``input + cache writes + cache
    reads``); when it *exceeds* the threshold, every token of the request,
    output included, is billed at the long rates.
    """
    if entry.long_context_threshold is None:
        return False
    prompt = input_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_read_tokens
    return prompt > entry.long_context_threshold


def compute_cost(
    entry: PriceEntry,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_write_5m_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    cache_read_tokens: int = 0,
    tier: Tier = "auto",
) -> Decimal:
    """The USD cost of the given tokens at ``entry``'s rates.

    Exact Decimal arithmetic, rounded once, half-even, to :data:`COST_QUANTUM`.

    ``tier="auto"`` treats the counts as one request and picks the tier with
    :func:`uses_long_context`. A bucket of many requests (vendor usage reports)
    cannot be judged from its totals: pass ``tier="base"`` (or ``"long"`` when
    the source reports the bucket as long-context) instead.

    Raises ``ValueError`` for a negative or non-int count and
    :class:`MissingRateError` when tokens were used of a kind the entry cannot
    price (see the module docstring).
    """
    counts: dict[TokenKind, int] = {
        "input": input_tokens,
        "output": output_tokens,
        "cache_write_5m": cache_write_5m_tokens,
        "cache_write_1h": cache_write_1h_tokens,
        "cache_read": cache_read_tokens,
    }
    for kind, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{kind} token count must be a non-negative int: {count!r}")
    if tier == "auto":
        long = uses_long_context(
            entry,
            input_tokens=input_tokens,
            cache_write_5m_tokens=cache_write_5m_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            cache_read_tokens=cache_read_tokens,
        )
    elif tier in ("base", "long"):
        long = tier == "long"
        if long and entry.long_context_threshold is None:
            raise MissingRateError(f"{entry.model} has no long-context tier")
    else:
        raise ValueError(f"unknown tier: {tier!r}")

    total = Decimal(0)
    # Plenty of digits: counts up to 10^15 times rates with a few decimals.
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        for kind, count in counts.items():
            if count:
                total += count * _rate(entry, kind, long=long)
        cost = total / _MILLION
        return cost.quantize(COST_QUANTUM, rounding=decimal.ROUND_HALF_EVEN)


def _rate(entry: PriceEntry, kind: TokenKind, *, long: bool) -> Decimal:
    """The per-million rate for ``kind`` in the chosen tier (see module doc)."""
    name = f"{kind}_long" if long else kind
    rate: Decimal | None = getattr(entry, name)
    if rate is not None:
        return rate
    # Missing only a long rate while the base rate exists: the vendor charges
    # something specific that we do not know.
    if long and getattr(entry, kind) is not None:
        raise MissingRateError(f"{entry.model}: no long-context rate for {kind}")
    # A 1h write is a distinct, dearer product wherever 5m writes are priced.
    if kind == "cache_write_1h" and entry.cache_write_5m is not None:
        raise MissingRateError(f"{entry.model}: no rate for 1h cache writes")
    fallback: Decimal | None = entry.input_long if long else entry.input
    assert fallback is not None  # guaranteed by PriceEntry validation
    return fallback


# --- the shipped price book -------------------------------------------------


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
    for name in _BASE_RATES + _LONG_RATES:
        if kwargs.get(name) is not None:
            kwargs[name] = _decimal_from_text(name, kwargs[name])
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


def _decimal_from_text(name: str, value: Any) -> Decimal:
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
    _require_aware(name, parsed)
    return parsed


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


# --- LiteLLM model_prices_and_context_window.json ---------------------------

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
    _require_aware("effective_from", effective_from)
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
        exact = _decimal_from_text(name, value)
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
