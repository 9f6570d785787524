"""OpenAI organization usage and costs APIs -> bucketed TokenUsage records.

Endpoints (OpenAI API reference, "Usage" and "Costs":
https://platform.openai.com/docs/api-reference/usage/completions and
https://platform.openai.com/docs/api-reference/usage/costs), authenticated with an
Admin API key as ``Authorization: Bearer``:

* ``GET /v1/organization/usage/completions`` with ``start_time`` / ``end_time`` (Unix
  seconds, end exclusive), ``bucket_width`` (``1m`` / ``1h`` / ``1d``), ``group_by``
  (``project_id``, ``user_id``, ``api_key_id``, ``model``, ``batch``, ``service_tier``)
  and ``page``. Each ``data[]`` bucket (``object: "bucket"``) has ``start_time``,
  ``end_time`` and ``results[]`` of ``organization.usage.completions.result`` with
  ``input_tokens`` (cached ones included), ``input_cached_tokens``, ``output_tokens``,
  ``input_audio_tokens``, ``output_audio_tokens``, ``num_model_requests`` and the
  grouped fields. Paginated by ``has_more`` / ``next_page``.
* ``GET /v1/organization/costs`` (daily buckets) grouped by ``project_id`` and
  ``line_item``; ``results[]`` rows are ``organization.costs.result`` with
  ``amount: {value, currency}``.

Mapping: one record per (bucket, model, project, API key[, user]); ``input_tokens`` is
the uncached input (``input_tokens - input_cached_tokens``) and
``cache_read_input_tokens`` the cached part, so the ledger's token kinds mean the
same for every provider. The costs API cannot be grouped by model or API key, so
records carry ``cost_usd: null`` and the ledger prices them from its price book;
``fetch_costs`` returns the billed line items for reconciliation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from integrations.usage_reports.client import (
    ReportClient,
    UsageApiError,
    count,
    record_id,
    require_aware,
    rfc3339,
)
from integrations.webhooks.base import Record

PROVIDER = "openai"
DEFAULT_BASE_URL = "https://api.openai.com"
USAGE_PATH = "/v1/organization/usage/completions"
COSTS_PATH = "/v1/organization/costs"
BUCKET_WIDTHS = ("1d", "1h", "1m")
DEFAULT_GROUP_BY = ("model", "project_id", "api_key_id")
GROUP_FIELDS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")


@dataclass(frozen=True)
class CostLine:
    """One billed line of the costs API, in USD."""

    period_start: str
    period_end: str
    project_id: str | None
    line_item: str | None
    amount_usd: Decimal


class OpenAIUsageClient(ReportClient):
    """Pulls an organisation's completions usage (and billed costs) for a window."""

    def __init__(
        self,
        admin_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        bucket_width: str = "1d",
        group_by: Sequence[str] = DEFAULT_GROUP_BY,
        http: httpx.Client | None = None,
        max_attempts: int = 5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if bucket_width not in BUCKET_WIDTHS:
            raise ValueError(f"bucket_width must be one of {BUCKET_WIDTHS}")
        unknown = set(group_by) - set(GROUP_FIELDS)
        if unknown or "model" not in group_by:
            raise ValueError(f"group_by must include model and only use {GROUP_FIELDS}")
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        super().__init__(
            base_url=base_url,
            headers={"Authorization": f"Bearer {admin_key}"},
            http=http,
            max_attempts=max_attempts,
            **extra,
        )
        self.bucket_width = bucket_width
        self.group_by = tuple(group_by)

    def fetch(self, start: datetime, end: datetime) -> list[Record]:
        """Usage records for buckets in [start, end); see the module docstring."""
        require_aware(start, end)
        params: list[tuple[str, str | int]] = [
            ("start_time", int(start.timestamp())),
            ("end_time", int(end.timestamp())),
            ("bucket_width", self.bucket_width),
        ]
        params += [("group_by", field) for field in self.group_by]
        return usage_records(self.pages(USAGE_PATH, params))

    def fetch_costs(self, start: datetime, end: datetime) -> list[CostLine]:
        """Billed costs per day, project and line item in [start, end), for reconciliation."""
        require_aware(start, end)
        params: list[tuple[str, str | int]] = [
            ("start_time", int(start.timestamp())),
            ("end_time", int(end.timestamp())),
            ("bucket_width", "1d"),
            ("group_by", "project_id"),
            ("group_by", "line_item"),
        ]
        return cost_lines(self.pages(COSTS_PATH, params))


def usage_records(pages: Iterable[dict[str, Any]]) -> list[Record]:
    """Map completions usage pages to records."""
    records: list[Record] = []
    for page in pages:
        for bucket in _list(page, "data"):
            starts, ends = _bucket_window(bucket)
            for row in _rows(bucket):
                record = _usage_record(row, starts, ends)
                if record is not None:
                    records.append(record)
    return records


def cost_lines(pages: Iterable[dict[str, Any]]) -> list[CostLine]:
    lines: list[CostLine] = []
    for page in pages:
        for bucket in _list(page, "data"):
            starts, ends = _bucket_window(bucket)
            for row in _rows(bucket):
                amount = row.get("amount") or {}
                if str(amount.get("currency", "usd")).lower() != "usd":
                    continue
                try:
                    value = Decimal(str(amount["value"]))
                except (KeyError, ArithmeticError) as exc:
                    raise UsageApiError(f"cost amount {amount!r} unreadable") from exc
                lines.append(
                    CostLine(
                        period_start=starts,
                        period_end=ends,
                        project_id=row.get("project_id"),
                        line_item=row.get("line_item"),
                        amount_usd=value,
                    )
                )
    return lines


def _usage_record(row: dict[str, Any], starts: str, ends: str) -> Record | None:
    model = row.get("model")
    if not model:
        return None
    total_input = count(row.get("input_tokens"))
    cached = count(row.get("input_cached_tokens"))
    tokens = {
        # OpenAI's input_tokens includes the cached ones; the ledger counts them apart.
        "input_tokens": max(total_input - cached, 0),
        "output_tokens": count(row.get("output_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }
    if not any(tokens.values()):
        return None
    group = {field: row.get(field) for field in GROUP_FIELDS if row.get(field) is not None}
    attributes: dict[str, Any] = {"derived_from": "usage_report", **group}
    for field in ("num_model_requests", "input_audio_tokens", "output_audio_tokens"):
        if row.get(field) is not None:
            attributes[field] = count(row.get(field))
    record: Record = {
        "id": record_id(
            "openai-usage",
            starts,
            *(f"{field}={group.get(field, '')}" for field in GROUP_FIELDS),
        ),
        "period_start": starts,
        "period_end": ends,
        "provider": PROVIDER,
        "model": str(model),
        **tokens,
        "cost_usd": None,
        "attributes": attributes,
    }
    if row.get("user_id"):
        record["actor"] = str(row["user_id"])
    return record


def _bucket_window(bucket: dict[str, Any]) -> tuple[str, str]:
    try:
        starts = datetime.fromtimestamp(int(bucket["start_time"]), tz=UTC)
        ends = datetime.fromtimestamp(int(bucket["end_time"]), tz=UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageApiError(f"bucket without a readable start_time/end_time: {exc}") from exc
    return rfc3339(starts), rfc3339(ends)


def _rows(bucket: dict[str, Any]) -> list[dict[str, Any]]:
    # The published examples name the list "results"; the generated reference "result".
    return _list(bucket, "results") or _list(bucket, "result")


def _list(container: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = container.get(key) or []
    if not isinstance(value, list):
        raise UsageApiError(f"{key} is {type(value).__name__}, not a list")
    return value
