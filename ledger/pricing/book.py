"""The price book as the ingest path sees it: ModelPrice rows as PriceEntry values.

The arithmetic lives in ledger.pricing.cost (pure); this module loads the rows, keeps
them for a few seconds per process (the hot path must not query the price book
per record), and maps a chosen entry back to its row for ``TokenUsage.price``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from ledger.models import ModelPrice
from ledger.pricing.cost import MissingRateError, PriceEntry, compute_cost, find_price
from ledger.pricing.files import load_pricebook

# Seconds a process keeps the price book before reading it again. An edit in the
# admin clears this process's copy at once; other processes see it within this.
CACHE_SECONDS = 10.0

RATE_FIELDS = (
    "input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
    "long_context_threshold", "input_long", "output_long", "cache_write_5m_long",
    "cache_write_1h_long", "cache_read_long",
)  # fmt: skip


def entry_from_row(row: ModelPrice) -> PriceEntry:
    return PriceEntry(
        provider=row.provider,
        model=row.model,
        match=row.match,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        source_url=row.source_url,
        note=row.note,
        **{name: getattr(row, name) for name in RATE_FIELDS},
    )


def row_fields(entry: PriceEntry) -> dict[str, Any]:
    """ModelPrice field values for an entry (the inverse of entry_from_row)."""
    fields = {
        name: getattr(entry, name)
        for name in ("provider", "model", "match", "effective_from", "effective_to")
    }
    fields.update({name: getattr(entry, name) for name in RATE_FIELDS})
    fields.update(source_url=entry.source_url, note=entry.note[:500])
    return fields


@dataclass(frozen=True)
class PriceBook:
    entries: tuple[PriceEntry, ...]
    row_ids: dict[int, int]  # id(entry) -> ModelPrice.pk

    def find(self, *, provider: str, model: str, at: datetime) -> tuple[PriceEntry, int] | None:
        entry = find_price(self.entries, provider=provider, model=model, at=at)
        return None if entry is None else (entry, self.row_ids[id(entry)])

    def cost(
        self,
        *,
        provider: str,
        model: str,
        at: datetime,
        input_tokens: int,
        output_tokens: int,
        cache_creation_input_tokens: int,
        cache_creation_1h_input_tokens: int,
        cache_read_input_tokens: int,
        bucket: bool = False,
    ) -> tuple[Decimal, int] | None:
        """(cost, ModelPrice id), or None when no entry prices this usage.

        ``bucket`` marks totals of many requests (a usage report bucket): the
        long-context tier cannot be judged from totals, so the base tier is used.
        """
        found = self.find(provider=provider, model=model, at=at)
        if found is None:
            return None
        entry, row_id = found
        try:
            cost = compute_cost(
                entry,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_write_5m_tokens=cache_creation_input_tokens - cache_creation_1h_input_tokens,
                cache_write_1h_tokens=cache_creation_1h_input_tokens,
                cache_read_tokens=cache_read_input_tokens,
                tier="base" if bucket else "auto",
            )
        except MissingRateError:
            return None
        return cost, row_id


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._book: PriceBook | None = None
        self._expires = 0.0

    def get(self) -> PriceBook:
        with self._lock:
            if self._book is not None and time.monotonic() < self._expires:
                return self._book
        rows = list(ModelPrice.objects.all())
        entries = [entry_from_row(row) for row in rows]
        book = PriceBook(
            entries=tuple(entries),
            row_ids={id(entry): row.pk for entry, row in zip(entries, rows, strict=True)},
        )
        with self._lock:
            self._book, self._expires = book, time.monotonic() + CACHE_SECONDS
        return book

    def clear(self) -> None:
        with self._lock:
            self._book = None


_cache = _Cache()


def current_book() -> PriceBook:
    return _cache.get()


def forget_cached_book() -> None:
    _cache.clear()


def install_published_prices() -> tuple[int, int]:
    """Load the shipped price book (ledger/pricebook/prices.json) into ModelPrice.

    Idempotent: an entry already present (same provider, match and start) is left
    as it is, so edits made in the admin are kept. Returns (created, kept).
    """
    from ledger.pricing.entries import price_recorded_added  # it builds on this module

    created = kept = 0
    for entry in load_pricebook():
        fields = row_fields(entry)
        with transaction.atomic():
            row, was_created = ModelPrice.objects.get_or_create(
                provider=fields.pop("provider"),
                match=fields.pop("match"),
                effective_from=fields.pop("effective_from"),
                defaults=fields,
            )
            if was_created:
                price_recorded_added(row, reason="the shipped price book")
        created += was_created
        kept += not was_created
    forget_cached_book()
    return created, kept
