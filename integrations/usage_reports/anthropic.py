"""Anthropic Admin API usage and cost reports -> bucketed TokenUsage records.

Endpoints (Anthropic API reference, "Usage and Cost":
https://platform.claude.com/docs/en/api/admin-api/usage-cost/get-messages-usage-report
and .../get-cost-report), authenticated with an Admin API key in ``x-api-key`` and
``anthropic-version: 2023-06-01``:

* ``GET /v1/organizations/usage_report/messages`` with ``starting_at``, ``ending_at``
  (RFC 3339), ``bucket_width`` (``1d`` / ``1h`` / ``1m``), ``group_by[]`` and ``page``.
  Each ``data[]`` bucket has ``starting_at``, ``ending_at`` and ``results[]`` rows with
  ``uncached_input_tokens``, ``cache_creation.ephemeral_5m_input_tokens`` /
  ``ephemeral_1h_input_tokens``, ``cache_read_input_tokens``, ``output_tokens``,
  ``server_tool_use.web_search_requests`` and the grouped ``model``, ``workspace_id``,
  ``api_key_id``. Paginated by ``has_more`` / ``next_page``.
* ``GET /v1/organizations/cost_report`` (daily buckets only) grouped by
  ``workspace_id`` and ``description``: rows carry ``amount`` in the lowest currency
  unit (cents) as a decimal string, ``currency``, ``cost_type``, ``model``.

Mapping: one record per (bucket, model, workspace[, API key]). ``input_tokens`` is the
uncached input, ``cache_creation_input_tokens`` the sum of the 5-minute and 1-hour
cache writes and ``cache_creation_1h_input_tokens`` the 1-hour part. ``cost_usd`` is
the cost report's token cost for the same (day, workspace, model), in dollars, when
the grains match: daily buckets and no API-key grouping. Otherwise it is null and the ledger prices the
record from its price book. Costs that belong to no model (web search, code
execution, session usage) are not attached to token records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from integrations.usage_reports.client import (
    ReportClient,
    UsageApiError,
    count,
    parse_rfc3339,
    record_id,
    require_aware,
    rfc3339,
    usd_text,
)
from integrations.webhooks.base import Record

PROVIDER = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
BUCKET_WIDTHS = ("1d", "1h", "1m")
_CENTS = Decimal(100)

CostKey = tuple[str, str, str]  # (bucket start, workspace id or "", model)


class AnthropicUsageClient(ReportClient):
    """Pulls an organisation's Messages API usage (and daily cost) for a window."""

    def __init__(
        self,
        admin_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        bucket_width: str = "1d",
        group_by_api_key: bool = False,
        exclude_workspace_ids: Sequence[str] = (),
        http: httpx.Client | None = None,
        max_attempts: int = 5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if bucket_width not in BUCKET_WIDTHS:
            raise ValueError(f"bucket_width must be one of {BUCKET_WIDTHS}")
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        super().__init__(
            base_url=base_url,
            headers={"x-api-key": admin_key, "anthropic-version": API_VERSION},
            http=http,
            max_attempts=max_attempts,
            **extra,
        )
        self.bucket_width = bucket_width
        self.group_by_api_key = group_by_api_key
        # Usage already reported per request elsewhere (a workspace that only Claude
        # Code uses, whose spend arrives over OTLP) is left out so it is not counted twice.
        self.exclude_workspace_ids = frozenset(exclude_workspace_ids)

    @property
    def attaches_cost(self) -> bool:
        """The cost report is daily and has no API-key grouping; only then do grains match."""
        return self.bucket_width == "1d" and not self.group_by_api_key

    def fetch(self, start: datetime, end: datetime) -> list[Record]:
        """Usage records for buckets in [start, end); see the module docstring."""
        require_aware(start, end)
        window = [("starting_at", rfc3339(start)), ("ending_at", rfc3339(end))]
        group_by = ["model", "workspace_id"] + (["api_key_id"] if self.group_by_api_key else [])
        usage_pages = list(
            self.pages(
                USAGE_PATH,
                [*window, ("bucket_width", self.bucket_width)]
                + [("group_by[]", field) for field in group_by],
            )
        )
        costs: dict[CostKey, Decimal] | None = None
        if self.attaches_cost:
            costs = token_costs(
                self.pages(
                    COST_PATH,
                    [*window, ("group_by[]", "workspace_id"), ("group_by[]", "description")],
                )
            )
        records = usage_records(usage_pages, costs=costs)
        return [
            record
            for record in records
            if record["attributes"].get("workspace_id") not in self.exclude_workspace_ids
        ]


def usage_records(
    pages: Iterable[dict[str, Any]], *, costs: dict[CostKey, Decimal] | None
) -> list[Record]:
    """Map usage report pages to records; ``costs`` (USD by CostKey) when the grains match."""
    records: list[Record] = []
    for page in pages:
        for bucket in _list(page, "data"):
            starts = parse_rfc3339(str(bucket["starting_at"]))
            ends = parse_rfc3339(str(bucket["ending_at"]))
            for row in _list(bucket, "results"):
                record = _usage_record(row, rfc3339(starts), rfc3339(ends), costs)
                if record is not None:
                    records.append(record)
    return records


def token_costs(pages: Iterable[dict[str, Any]]) -> dict[CostKey, Decimal]:
    """Token cost in USD per (bucket start, workspace, model) from cost report pages."""
    totals: dict[CostKey, Decimal] = defaultdict(Decimal)
    for page in pages:
        for bucket in _list(page, "data"):
            starts = rfc3339(parse_rfc3339(str(bucket["starting_at"])))
            for row in _list(bucket, "results"):
                model = row.get("model")
                if not model or row.get("cost_type") not in (None, "tokens"):
                    continue
                if str(row.get("currency", "USD")).upper() != "USD":
                    continue
                try:
                    cents = Decimal(str(row["amount"]))
                except (KeyError, ArithmeticError) as exc:
                    raise UsageApiError(
                        f"cost row amount {row.get('amount')!r} unreadable"
                    ) from exc
                totals[(starts, row.get("workspace_id") or "", str(model))] += cents / _CENTS
    return dict(totals)


def _usage_record(
    row: dict[str, Any], starts: str, ends: str, costs: dict[CostKey, Decimal] | None
) -> Record | None:
    model = row.get("model")
    if not model:
        return None
    cache = row.get("cache_creation") or {}
    # Older report shapes flatten the cache-write split; read either.
    write_5m = count(
        cache.get("ephemeral_5m_input_tokens", row.get("cache_creation_5m_input_tokens"))
    )
    write_1h = count(
        cache.get("ephemeral_1h_input_tokens", row.get("cache_creation_1h_input_tokens"))
    )
    tokens = {
        "input_tokens": count(row.get("uncached_input_tokens")),
        "output_tokens": count(row.get("output_tokens")),
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_creation_1h_input_tokens": write_1h,
        "cache_read_input_tokens": count(row.get("cache_read_input_tokens")),
    }
    if not any(tokens.values()):
        return None
    workspace = row.get("workspace_id") or ""
    api_key = row.get("api_key_id") or ""
    cost = None if costs is None else costs.get((starts, workspace, str(model)))
    attributes: dict[str, Any] = {
        "derived_from": "usage_report",
        "workspace_id": workspace or None,
    }
    if api_key:
        attributes["api_key_id"] = api_key
    web_search = (row.get("server_tool_use") or {}).get("web_search_requests")
    if web_search:
        attributes["web_search_requests"] = count(web_search)
    if cost is not None:
        attributes["cost_source"] = "cost_report"
    return {
        "id": record_id("anthropic-usage", starts, str(model), workspace, api_key),
        "period_start": starts,
        "period_end": ends,
        "provider": PROVIDER,
        "model": str(model),
        **tokens,
        "cost_usd": None if cost is None else usd_text(cost),
        "attributes": attributes,
    }


def _list(container: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = container.get(key) or []
    if not isinstance(value, list):
        raise UsageApiError(f"{key} is {type(value).__name__}, not a list")
    return value
