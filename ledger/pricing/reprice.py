"""Reprice: bring stored usage costs in line with the price book as it is now.

Stored costs are never rewritten (TokenUsage is append-only). A correction is a
CostAdjustment holding the difference, the price entry that gave the new cost
and why; reports add the adjustments to the stored cost (awu.reports.facts).

Which records: those of one provider whose model, normalised as at pricing time
(``ledger.pricing.names.normalize_model``), is the given model or is covered by the
``match`` globs of that model's price book entries (its dated snapshots), in a
period of ``occurred_at``. A record with a ``reported`` cost is never repriced:
reported beats computed. Each other record is priced exactly as ingest prices
it (``ledger.pricing.book.PriceBook.cost``: the entry in force at ``occurred_at``, base tier
for vendor-report buckets), and compared with its cost so far (stored cost plus
earlier adjustments). So running it again appends nothing: the cost so far
already equals the new price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, Sum

from ledger import audit
from ledger.models import CostAdjustment, TokenUsage
from ledger.pricing.book import PriceBook, current_book, forget_cached_book
from ledger.pricing.names import normalize_model

# pg_advisory_xact_lock key: two reprice runs never compute the same record's
# difference at once (each would append it).
LOCK_KEY = 0x4157_5250  # "AWRP"
BATCH_SIZE = 1000


class RepriceError(ValueError):
    """The reprice cannot run as asked (unknown model, empty period)."""


@dataclass(frozen=True)
class RepriceLine:
    """One record whose cost changes.

    ``stored_cost`` is the record's ``cost_usd`` (None: it was stored unpriced);
    ``current_cost`` adds the adjustments appended so far (None: unpriced and
    never adjusted); ``difference`` is ``new_cost`` minus the cost so far (all of
    ``new_cost`` for a record that had none).
    """

    usage_id: int
    occurred_at: datetime
    model: str
    stored_cost: Decimal | None
    current_cost: Decimal | None
    new_cost: Decimal
    difference: Decimal
    price_id: int


@dataclass
class RepriceReport:
    provider: str
    model: str
    start: datetime
    stop: datetime
    applied: bool
    #: Records examined: in the period, cost not reported.
    examined: int = 0
    changed: int = 0
    unchanged: int = 0
    #: Records the price book cannot price now (no entry in force, or a rate
    #: missing for a token kind they used); left as they are.
    unpriceable: int = 0
    #: Records with a reported cost, never repriced.
    reported: int = 0
    adjustments_created: int = 0
    total_difference: Decimal = Decimal(0)
    #: The changed records, when no ``on_line`` callback took them.
    lines: list[RepriceLine] = field(default_factory=list)


def usage_reprice(
    *,
    provider: str,
    model: str,
    start: datetime,
    stop: datetime,
    apply: bool,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    on_line: Callable[[RepriceLine], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    reason: str = "",
) -> RepriceReport:
    """Compare the records of ``provider``/``model`` in ``[start, stop)`` with the
    price book now; with ``apply``, append one CostAdjustment per changed record.

    Records are read in batches (keyset on ``(occurred_at, id)`` per stored model
    name, following the ``usage_model_time`` index); with ``apply`` each batch is
    read and adjusted in one transaction, under an advisory lock so concurrent
    runs cannot both append the same difference. ``on_line`` receives each
    changed record as it is found (otherwise they are kept in the report);
    ``progress`` receives (records done, records in all) after each batch.
    Audited: a dry run as one row with its total difference; an applied run as
    one row per batch that appended adjustments, in that batch's transaction.

    Raises RepriceError when the price book has no entry for the model, or the
    period is empty.
    """
    for name, value in (("start", start), ("stop", stop), ("now", now)):
        if value.utcoffset() is None:
            raise RepriceError(f"{name} must be a timezone-aware datetime")
    if stop <= start:
        raise RepriceError("the period is empty: 'to' must be after 'from'")
    provider = provider.strip().lower()
    wanted = normalize_model(model)
    # Read once, fresh: a price edited a moment ago must count.
    forget_cached_book()
    book = current_book()
    if not any(e.provider == provider and e.specificity(wanted) is not None for e in book.entries):
        raise RepriceError(
            f"no price book entry for {provider}/{wanted}: add one (admin, or "
            "import_prices) before repricing"
        )
    patterns = {
        p for e in book.entries if e.provider == provider and e.model == wanted for p in e.patterns
    }

    report = RepriceReport(provider=provider, model=wanted, start=start, stop=stop, applied=apply)
    in_period = TokenUsage.objects.filter(
        provider=provider, occurred_at__gte=start, occurred_at__lt=stop
    )
    names = [
        name
        for name in in_period.order_by().values_list("model", flat=True).distinct()
        if _selected(name, wanted, patterns)
    ]
    if not names:
        if not apply:
            _audit(report, "reprice.dry_run", None, reason)
        return report
    in_period = in_period.filter(model__in=names)
    report.reported = in_period.filter(cost_source=TokenUsage.CostSource.REPORTED).count()
    candidates = in_period.exclude(cost_source=TokenUsage.CostSource.REPORTED)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    total = done = 0
    if progress is not None:
        total = candidates.count()
        progress(done, total)

    for name in sorted(names):
        after: tuple[datetime, int] | None = None
        while True:
            with transaction.atomic():
                if apply:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                rows = _batch(candidates.filter(model=name), after, batch_size)
                if not rows:
                    break
                changed = _compare(book, rows, report)
                for line in changed:
                    report.changed += 1
                    report.total_difference += line.difference
                    if on_line is None:
                        report.lines.append(line)
                    else:
                        on_line(line)
                if apply and changed:
                    CostAdjustment.objects.bulk_create(
                        [_adjustment(line, stamp, provider) for line in changed]
                    )
                    report.adjustments_created += len(changed)
                    # One row per batch, in the batch's transaction: every
                    # adjustment appended is covered by the row that says why.
                    _audit(report, "reprice.applied", changed, reason)
            after = (rows[-1]["occurred_at"], rows[-1]["id"])
            done += len(rows)
            if progress is not None:
                progress(done, total)
            if len(rows) < batch_size:
                break
    if not apply:
        _audit(report, "reprice.dry_run", None, reason)
    return report


def _audit(
    report: RepriceReport, action: str, lines: list[RepriceLine] | None, reason: str
) -> None:
    """The audit row of a dry run (the whole run) or of one applied batch (its lines)."""
    effect: dict[str, Any] = (
        {"records_changed": report.changed, "difference_usd": report.total_difference}
        if lines is None
        else {
            "adjustments": len(lines),
            "difference_usd": sum((line.difference for line in lines), Decimal(0)),
        }
    )
    audit.record(
        action,
        object_type="price",
        object_id="",
        label=f"{report.provider}/{report.model}",
        after={"from": report.start, "to": report.stop, **effect},
        reason=reason,
    )


def _selected(raw: str, wanted: str, patterns: set[str]) -> bool:
    normalised = normalize_model(raw)
    return normalised == wanted or any(fnmatchcase(normalised, p) for p in patterns)


_FIELDS = (
    "id", "occurred_at", "period_end", "model", "input_tokens", "output_tokens",
    "cache_creation_input_tokens", "cache_creation_1h_input_tokens",
    "cache_read_input_tokens", "cost_usd",
)  # fmt: skip


def _batch(qs: Any, after: tuple[datetime, int] | None, size: int) -> list[dict[str, Any]]:
    if after is not None:
        at, last_id = after
        # The plain bound lets the planner start the index range at ``at``.
        qs = qs.filter(occurred_at__gte=at).filter(
            Q(occurred_at__gt=at) | Q(occurred_at=at, id__gt=last_id)
        )
    rows = list(qs.values(*_FIELDS).order_by("occurred_at", "id")[:size])
    # Summed apart, for this batch only: an aggregate in the same query would be
    # computed over the whole rest of the period before the LIMIT.
    sums = dict(
        CostAdjustment.objects.filter(usage_id__in=[row["id"] for row in rows])
        .values("usage_id")
        .annotate(total=Sum("delta_usd"))
        .values_list("usage_id", "total")
    )
    for row in rows:
        row["adjusted"] = sums.get(row["id"])
    return rows


def _compare(
    book: PriceBook, rows: list[dict[str, Any]], report: RepriceReport
) -> list[RepriceLine]:
    changed: list[RepriceLine] = []
    for row in rows:
        report.examined += 1
        priced = book.cost(
            provider=report.provider,
            model=row["model"],
            at=row["occurred_at"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cache_creation_input_tokens=row["cache_creation_input_tokens"],
            cache_creation_1h_input_tokens=row["cache_creation_1h_input_tokens"],
            cache_read_input_tokens=row["cache_read_input_tokens"],
            bucket=row["period_end"] is not None,
        )
        if priced is None:
            report.unpriceable += 1
            continue
        new_cost, price_id = priced
        stored: Decimal | None = row["cost_usd"]
        adjusted: Decimal | None = row["adjusted"]
        current = (
            None
            if stored is None and adjusted is None
            else (stored or Decimal(0)) + (adjusted or Decimal(0))
        )
        # A record never priced gets an adjustment even at $0: it carries the
        # price entry that priced it.
        if current is not None and current == new_cost:
            report.unchanged += 1
            continue
        changed.append(
            RepriceLine(
                usage_id=row["id"],
                occurred_at=row["occurred_at"],
                model=row["model"],
                stored_cost=stored,
                current_cost=current,
                new_cost=new_cost,
                difference=new_cost - (current or Decimal(0)),
                price_id=price_id,
            )
        )
    return changed


def _adjustment(line: RepriceLine, stamp: str, provider: str) -> CostAdjustment:
    was = "unpriced" if line.current_cost is None else f"{line.current_cost}"
    reason = (
        f"reprice {stamp}: {provider}/{line.model} at {line.occurred_at:%Y-%m-%dT%H:%M:%SZ} "
        f"costs {line.new_cost} with price #{line.price_id}; was {was}"
    )
    return CostAdjustment(
        usage_id=line.usage_id,
        delta_usd=line.difference,
        price_id=line.price_id,
        reason=reason[:500],
    )
