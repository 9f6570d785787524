"""Storing OTLP exports: the ledger glue behind ``POST /v1/logs`` and ``/v1/metrics``.

The mappings (``otlp_logs``, ``otlp_metrics``) are pure; this module gives them a
source, a series store backed by ``MetricSeries`` and the ledger's ingest services.

One Source per API key: kind ``otlp``, slug ``otlp-key-<key id>``, created on first
use. Claude Code sends its logs and its metrics with the same key, so both land in
the same source, which is what the logs-plus-metrics rule
(``ledger.spend.spend_counted_usage``) compares within.

Records the ledger refuses (``invalid``, or ``conflict``: the same id stored with a
different body) are counted as rejected in the OTLP ``partial_success``; a
``duplicate`` is a retried export and counts as accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from integrations.models import MetricSeries
from integrations.otlp.decoding import attributes
from integrations.otlp.logs import usage_from_logs
from integrations.otlp.metrics import (
    ACTIVITY_METRICS,
    COST_METRIC,
    CUMULATIVE,
    USAGE_METRIC,
    SeriesPoint,
    series_key,
    usage_from_metrics,
)
from integrations.webhooks.base import Record
from ledger import ingest
from ledger.models import Source

OTLP_KIND = "otlp"
_MAX_REASONS = 3


@dataclass
class ExportResult:
    """What an export became: how many items were rejected, and why (for partial_success)."""

    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    created: int = 0
    duplicates: int = 0

    @property
    def error_message(self) -> str | None:
        return "; ".join(self.reasons) or None

    def add_reason(self, reason: str | None) -> None:
        if reason and reason not in self.reasons and len(self.reasons) < _MAX_REASONS:
            self.reasons.append(reason)


def otlp_source_for_key(*, key_id: int, key_name: str = "") -> Source:
    """The source an API key's OTLP exports are stored under, created on first use."""
    source, _ = Source.objects.get_or_create(
        kind=OTLP_KIND,
        slug=f"otlp-key-{key_id}",
        defaults={"name": f"OTLP via API key {key_name or key_id}"[:200]},
    )
    return source


def otlp_logs_store(
    *, message: logs_service_pb2.ExportLogsServiceRequest, source: Source, now: datetime
) -> ExportResult:
    """Map a decoded logs export and store its usage records and commit links.

    Idempotent: record ids derive from the content, so a retried export stores
    nothing new. Raises only for database failures (nothing is then stored).
    """
    mapped = usage_from_logs(message, received_at=now)
    result = ExportResult(rejected=mapped.rejected)
    result.add_reason(mapped.error_message)
    with transaction.atomic():
        _store(mapped.events, mapped.usage, source=source, now=now, result=result)
    return result


def otlp_metrics_store(
    *, message: metrics_service_pb2.ExportMetricsServiceRequest, source: Source, now: datetime
) -> ExportResult:
    """Map a decoded metrics export and store it with the new cumulative series state.

    The series rows are locked before mapping and written back in the same
    transaction as the records, so a crash cannot store one without the other and
    two concurrent exports of a series take turns instead of counting it twice.
    """
    with transaction.atomic():
        store = LockedSeriesStore.lock(source=source, keys=_cumulative_series(message), now=now)
        mapped = usage_from_metrics(message, store=store)
        result = ExportResult(rejected=mapped.rejected)
        result.add_reason(mapped.error_message)
        _store(mapped.events, mapped.usage, source=source, now=now, result=result)
        store.save()
    return result


def _store(
    events: list[Record],
    usage: list[Record],
    *,
    source: Source,
    now: datetime,
    result: ExportResult,
) -> None:
    outcomes: list[ingest.ItemResult] = []
    if events:
        items = [{**record, "source": source.slug} for record in events]
        outcomes += _named(ingest.events_ingest(items=items, now=now, source_id=source.pk), items)
    if usage:
        items = [{**record, "source": source.slug} for record in usage]
        outcomes += _named(ingest.usage_ingest(items=items, now=now, source_id=source.pk), items)
    for outcome in outcomes:
        if outcome.status == "created":
            result.created += 1
        elif outcome.status == "duplicate":
            result.duplicates += 1
        else:
            result.rejected += 1
            result.add_reason(outcome.detail)


def _named(outcomes: list[ingest.ItemResult], items: list[Record]) -> list[ingest.ItemResult]:
    """Put the record id and the ledger's reason in ``detail`` of each refused item."""
    for outcome in outcomes:
        if outcome.status in ("invalid", "conflict"):
            record_id = items[outcome.index].get("id")
            if outcome.errors:
                why = "; ".join(f"{k}: {', '.join(v)}" for k, v in outcome.errors.items())
            else:
                why = outcome.detail or outcome.status
            outcome.detail = f"record {record_id} refused ({outcome.status}): {why}"
    return outcomes


def _cumulative_series(
    message: metrics_service_pb2.ExportMetricsServiceRequest,
) -> dict[str, str]:
    """series key -> metric name, for every cumulative point the mapping will look up.

    Computed exactly as ``otlp_metrics`` does, so the store can lock them all up
    front, in key order (a fixed order keeps two exports from deadlocking).
    """
    wanted = {USAGE_METRIC, COST_METRIC, *ACTIVITY_METRICS}
    keys: dict[str, str] = {}
    for resource_metrics in message.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name not in wanted or metric.WhichOneof("data") != "sum":
                    continue
                if metric.sum.aggregation_temporality != CUMULATIVE:
                    continue
                for point in metric.sum.data_points:
                    key = series_key(
                        metric.name,
                        resource,
                        attributes(point.attributes),
                        point.start_time_unix_nano,
                    )
                    keys[key] = metric.name
    return keys


class LockedSeriesStore:
    """A ``SeriesStore`` over ``MetricSeries`` rows locked for this transaction.

    ``lock`` claims a row per key (a placeholder for a series never seen, so even
    a first point is serialised) and reads them with ``SELECT ... FOR UPDATE``;
    ``get``/``put`` then work in memory and ``save`` writes back what changed.
    Use it inside ``transaction.atomic()``.
    """

    def __init__(
        self, *, source: Source, rows: dict[str, MetricSeries], names: dict[str, str], now: datetime
    ) -> None:
        self._source = source
        self._rows = rows
        self._names = names
        self._now = now
        self._changed: dict[str, SeriesPoint] = {}

    @classmethod
    def lock(cls, *, source: Source, keys: dict[str, str], now: datetime) -> LockedSeriesStore:
        ordered = sorted(keys)
        if not ordered:
            return cls(source=source, rows={}, names=keys, now=now)
        with connection.cursor() as cursor:
            # Inserting the placeholder takes the row lock for a new series; a
            # concurrent export of the same series waits here until we commit.
            cursor.execute(
                """
                INSERT INTO integrations_metricseries (source_id, key, metric, updated_at)
                SELECT %s, k.key, k.metric, %s
                FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS k(key, metric, n)
                ORDER BY k.n
                ON CONFLICT (source_id, key) DO NOTHING
                """,
                [source.pk, now, ordered, [keys[k][:200] for k in ordered]],
            )
        rows = {
            row.key: row
            for row in MetricSeries.objects.select_for_update()
            .filter(source=source, key__in=ordered)
            .order_by("key")
        }
        return cls(source=source, rows=rows, names=keys, now=now)

    def get(self, key: str) -> SeriesPoint | None:
        if key in self._changed:
            return self._changed[key]
        row = self._rows.get(key)
        if row is None or row.time_unix_nano is None or row.value is None:
            return None
        return SeriesPoint(time_unix_nano=row.time_unix_nano, value=Decimal(row.value))

    def put(self, key: str, point: SeriesPoint) -> None:
        self._changed[key] = point

    def save(self) -> None:
        """Write the changed series back; drop placeholders no point was stored for."""
        updated = []
        for key, point in self._changed.items():
            row = self._rows.get(key)
            if row is None:  # a key the mapping derived differently: keep it anyway
                row = MetricSeries(source=self._source, key=key, metric=self._names.get(key, ""))
                self._rows[key] = row
            row.time_unix_nano = point.time_unix_nano
            row.value = point.value
            row.updated_at = self._now
            updated.append(row)
        new = [row for row in updated if row.pk is None]
        if new:
            MetricSeries.objects.bulk_create(new)
        existing = [row for row in updated if row.pk is not None]
        if existing:
            MetricSeries.objects.bulk_update(existing, ["time_unix_nano", "value", "updated_at"])
        unused = _placeholders(self._rows.values(), self._changed)
        if unused:
            MetricSeries.objects.filter(pk__in=unused, time_unix_nano__isnull=True).delete()


def _placeholders(rows: Iterable[MetricSeries], changed: dict[str, SeriesPoint]) -> list[int]:
    return [
        row.pk
        for row in rows
        if row.pk is not None and row.time_unix_nano is None and row.key not in changed
    ]
