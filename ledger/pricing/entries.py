"""Changes to the price book: add an entry, close one, correct one. Each is audited.

An entry that has priced usage (a TokenUsage or a CostAdjustment names it) is
frozen: the database refuses any change to its rates, model, match or start,
and lets its end be set once, from open, when a newer entry takes over
(migration 0011). A wrong price is therefore corrected by a new entry from the
instant it was wrong, the old one ending there, and a reprice, which appends
adjustments: :func:`price_correct` does the first two in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from ledger import audit
from ledger.models import CostAdjustment, ModelPrice, TokenUsage
from ledger.pricing.book import RATE_FIELDS, entry_from_row, forget_cached_book

#: What an entry's audit row shows.
_SHOWN = ("provider", "model", "match", "effective_from", "effective_to", *RATE_FIELDS)


class PriceChangeError(ValueError):
    """The change cannot be made as asked; the message says why."""


def price_values(row: ModelPrice) -> dict[str, Any]:
    return audit.field_values(row, _SHOWN)


def price_is_frozen(row: ModelPrice) -> bool:
    """Whether the entry has priced usage (the database then refuses edits to it)."""
    if row.pk is None:
        return False
    return (
        TokenUsage.objects.filter(price_id=row.pk).exists()
        or CostAdjustment.objects.filter(price_id=row.pk).exists()
    )


def price_recorded_added(row: ModelPrice, *, reason: str = "") -> None:
    """Record an entry just created (inside the transaction that created it)."""
    audit.record("price.added", obj=row, after=price_values(row), reason=reason)


def price_add(*, row: ModelPrice, reason: str = "") -> ModelPrice:
    """Store a new entry (validated by the pricing rules first; raises ValueError)."""
    entry_from_row(row)
    with transaction.atomic():
        row.save()
        price_recorded_added(row, reason=reason)
    forget_cached_book()
    return row


def price_close(*, row: ModelPrice, at: datetime, reason: str = "") -> ModelPrice:
    """End an open entry at ``at`` (a newer one takes over from there)."""
    with transaction.atomic():
        locked = ModelPrice.objects.select_for_update().get(pk=row.pk)
        if locked.effective_to is not None:
            raise PriceChangeError(
                f"{locked} already ends at {locked.effective_to:%Y-%m-%dT%H:%M:%SZ}"
            )
        if at <= locked.effective_from:
            raise PriceChangeError(
                f"the end must be after the entry's start, {locked.effective_from:%Y-%m-%d %H:%M:%S}"
            )
        locked.effective_to = at
        locked.save(update_fields=["effective_to", "updated_at"])
        audit.record(
            "price.closed",
            obj=locked,
            before={"effective_to": None},
            after={"effective_to": at},
            reason=reason,
        )
    forget_cached_book()
    return locked


def price_correct(
    *,
    row: ModelPrice,
    effective_from: datetime,
    rates: dict[str, Decimal | int | None],
    reason: str,
) -> ModelPrice:
    """A new entry with ``rates`` from ``effective_from`` on; the old entry ends there.

    The new entry keeps the old one's provider, model and match. Raises PriceChangeError when the
    old entry cannot end there (it already ended, or the instant is not inside
    it) and ValueError when the new rates break the pricing rules. Returns the
    new entry; run a reprice for the period afterwards.
    """
    if not reason.strip():
        raise PriceChangeError("say why the price is corrected")
    unknown = set(rates) - set(RATE_FIELDS)
    if unknown:
        raise TypeError(f"not a rate: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        old = ModelPrice.objects.select_for_update().get(pk=row.pk)
        if not old.effective_from < effective_from:
            raise PriceChangeError("the correction must start after the entry's start")
        if old.effective_to is not None:
            raise PriceChangeError(
                f"{old} already ends at {old.effective_to:%Y-%m-%dT%H:%M:%SZ}: "
                "correct the entry in force at that time instead"
            )
        new = ModelPrice(
            provider=old.provider,
            model=old.model,
            match=old.match,
            effective_from=effective_from,
            effective_to=None,
            source_url=old.source_url,
            note=f"correction of #{old.pk}: {reason}"[:500],
            **{name: getattr(old, name) for name in RATE_FIELDS},
        )
        for name, value in rates.items():
            setattr(new, name, value)
        entry_from_row(new)  # the pricing rules' own validation
        price_close(row=old, at=effective_from, reason=reason)
        new.save()
        price_recorded_added(new, reason=reason)
    forget_cached_book()
    return new
