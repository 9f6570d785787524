"""Pure pricing: a price entry, the entry in force for a model, the cost of tokens.

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

import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Literal

from ledger.pricing.names import literal_chars, normalize_model

#: Costs are rounded once, half-even, to this quantum (``numeric(18, 9)``).
COST_QUANTUM = Decimal("0.000000001")

_MILLION = Decimal(1_000_000)

# Names of the rate fields, base tier then long-context tier, in one place so
# validation, (de)serialisation and the LiteLLM mapping cannot drift apart.
BASE_RATES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
LONG_RATES = tuple(f"{name}_long" for name in BASE_RATES)

TokenKind = Literal["input", "output", "cache_write_5m", "cache_write_1h", "cache_read"]
Tier = Literal["auto", "base", "long"]


class MissingRateError(ValueError):
    """The entry has no defensible rate for tokens that were used.

    The record must be stored unpriced (flagged and counted), not at $0.
    """


@dataclass(frozen=True, kw_only=True)
class PriceEntry:
    """One effective-dated list price of one model; ``ModelPrice`` stores these fields.

    What the fields cannot say, checked on construction: ``provider`` is lower-case
    and ``model`` already normalised (:func:`~ledger.pricing.names.normalize_model`);
    ``match`` globs are matched case-sensitively and should stay tight
    (``"claude-opus-4*"`` would also catch Opus 4.5); the entry is in force for
    ``effective_from <= t < effective_to`` (aware, kept in UTC; no end: open-ended).
    Rates are USD per million tokens; ``input`` and ``output`` are required, an empty
    cache rate bills that kind as plain input, and the ``*_long`` rates, which need
    a ``long_context_threshold`` (then ``input_long`` and ``output_long`` are
    required), apply above it (:func:`uses_long_context`).
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
        require_aware("effective_from", self.effective_from)
        if self.effective_to is not None:
            require_aware("effective_to", self.effective_to)
            if self.effective_to <= self.effective_from:
                raise ValueError("effective_to must be after effective_from")
        # Normalise to UTC so equality and ordering never depend on the offset.
        object.__setattr__(self, "effective_from", self.effective_from.astimezone(UTC))
        if self.effective_to is not None:
            object.__setattr__(self, "effective_to", self.effective_to.astimezone(UTC))
        for name in BASE_RATES + LONG_RATES:
            value = getattr(self, name)
            if value is None:
                if name in ("input", "output"):
                    raise ValueError(f"{name} is required")
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative Decimal: {value!r}")
        threshold = self.long_context_threshold
        if threshold is None:
            present = [name for name in LONG_RATES if getattr(self, name) is not None]
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
        scores = [literal_chars(p) for p in self.patterns if fnmatchcase(model, p)]
        return max(scores) if scores else None


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
    require_aware("at", at)
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


def require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
