"""Sync the price book from LiteLLM's model_prices_and_context_window.json.

``ledger.pricing.litellm.import_litellm`` turns the map into entries (pure); this module
decides, per entry, what the price book needs, and writes it:

* the price in force for that model at ``effective_from`` has the same rates:
  **unchanged**, nothing written (so a second run writes nothing);
* the model's own entry is in force with other rates: a price change, recorded
  the way docs/pricing.md says: a **new row** from ``effective_from`` (keeping
  the old row's ``match`` globs, so its dated snapshots move with it) and the old
  row's ``effective_to`` set to that same instant. The old row's rates are never
  touched: usage it priced keeps pointing at the price it was priced with;
* no entry prices the model (or only another model's glob does, at other
  rates): a **new row** from ``effective_from``, ``match`` set to the model id
  (matching exactly what the exact id already matches, and keeping
  ``(provider, match, effective_from)`` unique among entries imported together).

Entries the table cannot hold exactly (a rate with more than six decimal places,
an id longer than the column) are skipped with their reason, like the keys
``import_litellm`` skips.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from ledger import audit
from ledger.models import ModelPrice
from ledger.pricing.book import RATE_FIELDS, entry_from_row, forget_cached_book, row_fields
from ledger.pricing.cost import PriceEntry, find_price
from ledger.pricing.entries import price_is_frozen, price_recorded_added
from ledger.pricing.litellm import SkippedModel, import_litellm
from ledger.pricing.names import normalize_model

# pg_advisory_xact_lock key: one import at a time, so two runs cannot both
# decide that the same price is new.
LOCK_KEY = 0x4157_5049  # "AWPI"

# ModelPrice rate columns are numeric(14, 6).
_RATE_PLACES = 6
_RATE_LIMIT = Decimal(10) ** (14 - _RATE_PLACES)
_RATE_NAMES = tuple(name for name in RATE_FIELDS if name != "long_context_threshold")


@dataclass(frozen=True)
class PriceChange:
    """A new row, and the row it ends (None for a model new to the price book)."""

    entry: PriceEntry
    replaces: int | None = None
    replaces_from: datetime | None = None


@dataclass
class PriceImportReport:
    effective_from: datetime
    dry_run: bool
    keys: int = 0
    created: list[PriceChange] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[SkippedModel] = field(default_factory=list)


def litellm_prices_import(
    *,
    price_map: Mapping[str, Any],
    effective_from: datetime,
    providers: Collection[str] | None = None,
    dry_run: bool,
) -> PriceImportReport:
    """Bring the price book in line with a LiteLLM price map, from ``effective_from``.

    Idempotent: importing the same map again (at the same or a later instant)
    creates nothing. With ``dry_run`` the same report is produced and nothing is
    written. Raises ValueError for a naive ``effective_from``.
    """
    parsed = import_litellm(price_map, effective_from=effective_from, providers=providers)
    report = PriceImportReport(
        effective_from=effective_from.astimezone(UTC),
        dry_run=dry_run,
        keys=len(price_map),
        skipped=list(parsed.skipped),
    )
    # Skips are reported by the map's own key, like import_litellm's; the first
    # key of a normalised id is the one it kept.
    keys: dict[tuple[str, str], str] = {}
    for key, spec in price_map.items():
        if isinstance(spec, Mapping):
            provider = str(spec.get("litellm_provider") or "").strip().lower()
            keys.setdefault((provider, normalize_model(key)), key)

    def skip(entry: PriceEntry, reason: str) -> None:
        key = keys.get((entry.provider, entry.model), f"{entry.provider}/{entry.model}")
        report.skipped.append(SkippedModel(key, reason))

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        rows = list(ModelPrice.objects.all())
        book = [entry_from_row(row) for row in rows]
        row_of = {id(entry): row for entry, row in zip(book, rows, strict=True)}
        taken = {(row.provider, row.match, row.effective_from) for row in rows}
        for entry in parsed.entries:
            problem = _unstorable(entry)
            if problem:
                skip(entry, problem)
                continue
            current = find_price(
                book, provider=entry.provider, model=entry.model, at=entry.effective_from
            )
            if current is not None and _rates(current) == _rates(entry):
                report.unchanged += 1
                continue
            if current is not None and current.model == entry.model:
                if current.effective_from == entry.effective_from:
                    skip(
                        entry,
                        "another price of this model starts at the same instant; "
                        "edit it in the admin or import from a later instant",
                    )
                    continue
                replaced = row_of[id(current)]
                if current.effective_to is not None and price_is_frozen(replaced):
                    # Its end may be set once, from open: it was set already.
                    skip(
                        entry,
                        f"the price in force then (#{replaced.pk}) has priced usage and already "
                        f"ends at {current.effective_to:%Y-%m-%dT%H:%M:%SZ}; import from then on, "
                        "or correct that price in the admin",
                    )
                    continue
                change = PriceChange(
                    entry=dataclasses.replace(
                        entry, match=current.match, effective_to=current.effective_to
                    ),
                    replaces=row_of[id(current)].pk,
                    replaces_from=current.effective_from,
                )
            else:
                change = PriceChange(
                    entry=dataclasses.replace(
                        entry, match=entry.model, effective_to=_next_start(book, entry)
                    )
                )
            identity = (entry.provider, change.entry.match, change.entry.effective_from)
            if identity in taken:
                skip(entry, f"an entry with match {change.entry.match!r} starts at this instant")
                continue
            taken.add(identity)
            report.created.append(change)
        if not dry_run:
            _write(report.created)
    if not dry_run:
        forget_cached_book()
    return report


def _write(changes: list[PriceChange]) -> None:
    for change in changes:
        if change.replaces is not None:
            # Ending an entry is the one change a used row takes (docs/pricing.md):
            # its rates, and every cost computed from them, stay as they were.
            row = ModelPrice.objects.get(pk=change.replaces)
            before = row.effective_to
            row.effective_to = change.entry.effective_from
            row.save(update_fields=["effective_to", "updated_at"])
            audit.record(
                "price.closed",
                obj=row,
                before={"effective_to": before},
                after={"effective_to": row.effective_to},
                reason=_IMPORT_REASON,
            )
    created = ModelPrice.objects.bulk_create(
        [ModelPrice(**row_fields(change.entry)) for change in changes]
    )
    for row in created:
        price_recorded_added(row, reason=_IMPORT_REASON)


_IMPORT_REASON = "import_prices --litellm"


def _rates(entry: PriceEntry) -> tuple[Any, ...]:
    return tuple(getattr(entry, name) for name in RATE_FIELDS)


def _next_start(book: list[PriceEntry], entry: PriceEntry) -> datetime | None:
    """The start of the model's next scheduled price, so the new row ends there."""
    later = [
        e.effective_from
        for e in book
        if e.provider == entry.provider
        and e.model == entry.model
        and e.effective_from > entry.effective_from
    ]
    return min(later, default=None)


def _unstorable(entry: PriceEntry) -> str | None:
    for name in _RATE_NAMES:
        value = getattr(entry, name)
        if value is None:
            continue
        if value >= _RATE_LIMIT:
            return f"{name} {value} per million is too large for the price book"
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > _RATE_PLACES:
            return (
                f"{name} {value} per million has more than {_RATE_PLACES} decimal places; "
                "the price book would round it"
            )
    limits = {"provider": 60, "model": 200, "source_url": 500}
    for name, limit in limits.items():
        if len(getattr(entry, name)) > limit:
            return f"{name} is longer than {limit} characters"
    return None
