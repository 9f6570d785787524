"""Claude Code OTLP metrics -> bucketed token usage and activity signals.

Interface (pure apart from the caller's series store)::

    result = usage_from_metrics(request, store=store)
    result.usage     # TokenUsage records (period_start/period_end), derived_from "metrics"
    result.events    # x.activity.<name> work events (commits, pull requests, lines)
    result.rejected  # data points that failed validation
    result.error_message, result.ignored

Source of the metric shapes: Claude Code's "Monitoring" documentation
(https://code.claude.com/docs/en/monitoring-usage), "Metrics" and "Metric details":
``claude_code.token.usage`` (unit ``tokens``; attributes ``type`` in input / output /
cacheRead / cacheCreation, ``model``) and ``claude_code.cost.usage`` (unit ``USD``;
``model``) are monotonic Sums, exported with DELTA temporality by default or
CUMULATIVE when ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative``.

Increments. A DELTA point is its own increment over [start, time]. For a CUMULATIVE
point the increment is value minus the last value seen for the same series, over
[last time, time]; the series is identified by the metric name, the resource
attributes, the point attributes and ``start_time_unix_nano``, so a restarted
exporter (new start time) starts a new series from zero. A value that drops without
a new start time is treated as a reset. A point not newer than the stored one is a
retried export and contributes nothing. The last value per series lives in the
caller's ``SeriesStore`` (the ledger backs it with a table; store the records and
the new series state in one transaction so a crash cannot split them).

Usage records. Increments are summed per (principal, model, window end) where the
principal is ``session.id`` (else the user's email / account / anonymous id) and the
window end is the export's collection time, so the token and cost increments of one
export are one record (its reported cost wins; tokens are kept by kind). The record's
period starts at the earliest start among them. The id is ``cc-metrics-`` + SHA-256 of
(principal, model, period start, period end), so a retried export yields the same
record (a duplicate), never a second one.

Logs plus metrics. Claude Code reports the same requests twice when both exporters
are on: once per request as ``claude_code.api_request`` log events, once summed in
these metrics. Both are stored (the ledger is append-only); the metrics records are
stored with ``grain: "summary"``, so the ledger's spend rule (``ledger.spend``)
counts the log records and a metrics record only where no log record covers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from integrations.otlp.decoding import (
    AttributeValue,
    MappedExport,
    attributes,
    nanos_to_datetime,
    rfc3339,
    string_attribute,
)
from integrations.otlp.logs import AGENT, PROVIDER, who
from integrations.usage_reports.client import record_id, usd_text
from integrations.webhooks.base import Record

USAGE_METRIC = "claude_code.token.usage"
COST_METRIC = "claude_code.cost.usage"
# metric name -> work event type; activity signals, never AWUs by themselves.
ACTIVITY_METRICS = {
    "claude_code.commit.count": "x.activity.commit",
    "claude_code.pull_request.count": "x.activity.pull_request",
    "claude_code.lines_of_code.count": "x.activity.lines_of_code",
}
TOKEN_FIELDS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cacheRead": "cache_read_input_tokens",
    "cacheCreation": "cache_creation_input_tokens",
}
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


@dataclass(frozen=True)
class SeriesPoint:
    """The last cumulative value seen for one series, and when it was measured."""

    time_unix_nano: int
    value: Decimal


class SeriesStore(Protocol):
    """Where the last value of each cumulative series is kept between exports."""

    def get(self, key: str) -> SeriesPoint | None: ...

    def put(self, key: str, point: SeriesPoint) -> None: ...


class InMemorySeriesStore:
    """A dict-backed store, for tests and single-process use."""

    def __init__(self) -> None:
        self.points: dict[str, SeriesPoint] = {}

    def get(self, key: str) -> SeriesPoint | None:
        return self.points.get(key)

    def put(self, key: str, point: SeriesPoint) -> None:
        self.points[key] = point


@dataclass
class MetricsResult(MappedExport):
    """Usage records from a metrics export."""

    UNIT: ClassVar[str] = "data point(s)"


# (principal, model, window end in nanoseconds)
_BucketKey = tuple[str, str, int]


@dataclass
class _Bucket:
    """One (principal, model, window end) usage record being summed."""

    values: dict[str, AttributeValue]
    model: str
    start: int
    end: int
    temporality: str
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS.values(), 0))
    cost: Decimal | None = None


def usage_from_metrics(
    request: metrics_service_pb2.ExportMetricsServiceRequest, *, store: SeriesStore
) -> MetricsResult:
    """Map one decoded metrics export; see the module docstring for the rules.

    Reads and updates ``store`` for cumulative series. Never raises for bad content:
    invalid points are counted in ``rejected``.
    """
    result = MetricsResult()
    buckets: dict[_BucketKey, _Bucket] = {}
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _map_metric(metric, resource, store, buckets, result)
    for key in sorted(buckets):
        record = _usage_record(key[0], buckets[key])
        if record is not None:
            result.usage.append(record)
    return result


def _map_metric(
    metric: metrics_pb2.Metric,
    resource: Mapping[str, AttributeValue],
    store: SeriesStore,
    buckets: dict[_BucketKey, _Bucket],
    result: MetricsResult,
) -> None:
    name = metric.name
    wanted = name in (USAGE_METRIC, COST_METRIC) or name in ACTIVITY_METRICS
    data = metric.WhichOneof("data")
    if not wanted:
        result.ignored += _point_count(metric)
        return
    if data != "sum":
        for _ in range(_point_count(metric)):
            result.reject(f"{name}: expected a Sum, got {data}")
        return
    temporality = metric.sum.aggregation_temporality
    for point in metric.sum.data_points:
        if temporality not in (DELTA, CUMULATIVE):
            result.reject(
                f"{name}: aggregation temporality {temporality} is not delta or cumulative"
            )
            continue
        point_values = attributes(point.attributes)
        values = {**resource, **point_values}
        problem = _validate(name, point, values)
        if problem:
            result.reject(f"{name}: {problem}")
            continue
        step = _increment(name, point, resource, point_values, temporality, store)
        if step is None:
            result.ignored += 1  # a retried cumulative export
            continue
        amount, start, end = step
        if amount == 0:
            continue
        if name in ACTIVITY_METRICS:
            result.events.append(_activity_event(name, values, point_values, amount, start, end))
            continue
        model = string_attribute(values, "model") or ""
        # Keyed by the window's end, not its start: an SDK starts each series' first
        # window when that series first recorded, so the input, output and cost points
        # of one export can carry three start times. Split by start, the export would
        # be three records and its tokens priced on top of its reported cost. All
        # points of one collection share its end time.
        key = (_principal(values), model, end)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = _Bucket(
                values=dict(values),
                model=model,
                start=start,
                end=end,
                temporality="delta" if temporality == DELTA else "cumulative",
            )
        bucket.start = min(bucket.start, start)
        if name == USAGE_METRIC:
            field_name = TOKEN_FIELDS[str(values["type"])]
            bucket.tokens[field_name] += int(amount)
        else:
            bucket.cost = (bucket.cost or Decimal(0)) + amount


def _validate(
    name: str, point: metrics_pb2.NumberDataPoint, values: Mapping[str, Any]
) -> str | None:
    kind = point.WhichOneof("value")
    if kind is None:
        return "data point has no value"
    value = _point_value(point)
    if value < 0:
        return f"negative value {value} on a monotonic counter"
    if name in (USAGE_METRIC, COST_METRIC) and not string_attribute(values, "model"):
        return "model attribute missing"
    if name == USAGE_METRIC:
        if values.get("type") not in TOKEN_FIELDS:
            return f"type {values.get('type')!r} is not one of {sorted(TOKEN_FIELDS)}"
        if value != value.to_integral_value():
            return f"token count {value} is not an integer"
    if not point.time_unix_nano:
        return "time_unix_nano missing"
    return None


def _increment(
    name: str,
    point: metrics_pb2.NumberDataPoint,
    resource: Mapping[str, AttributeValue],
    point_values: Mapping[str, AttributeValue],
    temporality: int,
    store: SeriesStore,
) -> tuple[Decimal, int, int] | None:
    """(amount, window start, window end) in nanoseconds, or None for a stale point."""
    value = _point_value(point)
    start = point.start_time_unix_nano or point.time_unix_nano
    if temporality == DELTA:
        return value, start, point.time_unix_nano
    key = series_key(name, resource, point_values, point.start_time_unix_nano)
    previous = store.get(key)
    if previous is not None and point.time_unix_nano <= previous.time_unix_nano:
        return None
    store.put(key, SeriesPoint(point.time_unix_nano, value))
    if previous is None:
        return value, start, point.time_unix_nano
    if value < previous.value:
        # The counter went down without a new start time: the emitter reset it.
        return value, previous.time_unix_nano, point.time_unix_nano
    return value - previous.value, previous.time_unix_nano, point.time_unix_nano


def series_key(
    name: str,
    resource: Mapping[str, AttributeValue],
    point_values: Mapping[str, AttributeValue],
    start_time_unix_nano: int,
) -> str:
    """The identity of a cumulative series, as a short stable string for the store."""
    return record_id(
        "series",
        name,
        _canonical(resource),
        _canonical(point_values),
        str(start_time_unix_nano),
    )


def _canonical(values: Mapping[str, AttributeValue]) -> str:
    return "\x1e".join(f"{key}={values[key]!r}" for key in sorted(values))


def _point_value(point: metrics_pb2.NumberDataPoint) -> Decimal:
    if point.WhichOneof("value") == "as_int":
        return Decimal(point.as_int)
    return Decimal(repr(point.as_double))


def _point_count(metric: metrics_pb2.Metric) -> int:
    data = metric.WhichOneof("data")
    if data is None:
        return 0
    return len(getattr(metric, data).data_points)


def _principal(values: Mapping[str, AttributeValue]) -> str:
    for key in ("session.id", "user.email", "user.account_uuid", "user.id"):
        value = string_attribute(values, key)
        if value:
            return f"{key}={value}"
    return "unknown"


def _usage_record(principal: str, bucket: _Bucket) -> Record | None:
    if not any(bucket.tokens.values()) and not bucket.cost:
        return None
    start, end = bucket.start, bucket.end
    record: Record = {
        "id": record_id("cc-metrics", principal, bucket.model, str(start), str(end)),
        "period_start": rfc3339(nanos_to_datetime(start)),
        "period_end": rfc3339(nanos_to_datetime(end)),
        "provider": PROVIDER,
        "model": bucket.model,
        **bucket.tokens,
        "cost_usd": None if bucket.cost is None else usd_text(bucket.cost),
    }
    record.update(who(bucket.values))
    session = string_attribute(bucket.values, "session.id")
    if session:
        record["refs"] = {"session": [session]}
    # The same requests also arrive one by one as log events; ledger.spend counts
    # those and this summary only where none covers it.
    record["grain"] = "summary"
    extra: dict[str, Any] = {"derived_from": "metrics", "temporality": bucket.temporality}
    organization = string_attribute(bucket.values, "organization.id")
    if organization:
        extra["organization.id"] = organization
    record["attributes"] = extra
    return record


def _activity_event(
    name: str,
    values: Mapping[str, AttributeValue],
    point_values: Mapping[str, AttributeValue],
    amount: Decimal,
    start: int,
    end: int,
) -> Record:
    session = string_attribute(values, "session.id")
    extra: dict[str, Any] = {
        "metric": name,
        "value": int(amount) if amount == amount.to_integral_value() else format(amount, "f"),
        "period_start": rfc3339(nanos_to_datetime(start)),
        "derived_from": "metrics",
    }
    for key in ("type", "model"):
        value = string_attribute(values, key)
        if value:
            extra[key] = value
    event: Record = {
        "id": record_id(
            "cc-activity", name, _principal(values), _canonical(point_values), str(start), str(end)
        ),
        "type": ACTIVITY_METRICS[name],
        "occurred_at": rfc3339(nanos_to_datetime(end)),
        "ai": {"assisted": True, "agent": AGENT},
        "attributes": extra,
    }
    if session:
        event["subject"] = f"claude-code:session/{session}"
        event["refs"] = {"session": [session]}
    event.update(who(values))
    return event
