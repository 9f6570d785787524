"""What the vendor usage/cost report clients share: paging, bounded retry, ids.

The vendor clients (``integrations.usage_reports.anthropic.AnthropicUsageClient`` and
``integrations.usage_reports.openai.OpenAIUsageClient``) pull bucketed organisation usage
from the vendors' admin APIs and return TokenUsage records in the wire format
(``period_start`` / ``period_end`` buckets, no ``source``). The lead's
``import_usage`` command and beat task call them::

    with AnthropicUsageClient(admin_key) as client:
        records = client.fetch(start, end)   # aware datetimes, [start, end)
    usage_ingest(source=..., records=records)

Record ids are deterministic per (provider, bucket start, model, workspace/project,
API key), so re-pulling an overlapping window yields duplicates, never new spend.
A bucket that is still filling (today's) comes back with larger numbers on the next
pull; under the same id that is a conflict the ledger refuses, so callers should pull
closed buckets only (``end`` at or before the start of the current bucket).

Network behaviour: 429, 5xx (and Anthropic's 529 "overloaded") and transport errors
are retried up to ``max_attempts`` times in all, waiting what ``retry-after`` says
(capped at ``max_delay``) or an exponential backoff when it is absent; any other
error status raises ``UsageApiError`` at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from types import TracebackType
from typing import Any

import httpx

Params = Sequence[tuple[str, str | int]]

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504, 529})


class UsageApiError(Exception):
    """The vendor API refused the request or kept failing; ``status`` is the last HTTP status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ReportClient:
    """A small JSON-over-HTTPS client with the vendors' pagination and retry rules.

    ``sleep`` is injectable so tests can observe the waits without waiting.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=timeout)
        self._base_url = base_url.rstrip("/")
        self._headers = headers
        self._max_attempts = max(1, max_attempts)
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ReportClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def pages(self, path: str, params: Params) -> Iterator[dict[str, Any]]:
        """Every page of a ``has_more`` / ``next_page`` paginated report, in order."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            query = list(params) + ([("page", token)] if token else [])
            page = self.get_json(path, query)
            yield page
            token = page.get("next_page") or None
            if not page.get("has_more") or not token:
                return
            if token in seen:
                raise UsageApiError(f"{path}: next_page {token!r} repeated; stopping")
            seen.add(token)

    def get_json(self, path: str, params: Params) -> dict[str, Any]:
        """GET one JSON object, retrying what is retryable; decimals stay Decimal."""
        url = f"{self._base_url}{path}"
        status: int | None = None
        for attempt in range(1, self._max_attempts + 1):
            delay: float | None = None
            try:
                response = self._http.get(url, params=list(params), headers=self._headers)
            except httpx.TransportError as exc:
                if attempt == self._max_attempts:
                    raise UsageApiError(f"GET {path} failed: {exc}") from exc
            else:
                status = response.status_code
                if status < 300:
                    return _json_object(response, path)
                if status not in RETRYABLE_STATUS:
                    text = self._without_credentials(_error_text(response))
                    raise UsageApiError(f"GET {path} answered {status}: {text}", status=status)
                if attempt == self._max_attempts:
                    break
                delay = retry_after_seconds(response.headers.get("retry-after"))
            self._sleep(self._backoff(attempt) if delay is None else min(delay, self._max_delay))
        raise UsageApiError(
            f"GET {path} still failing after {self._max_attempts} attempts", status=status
        )

    def _without_credentials(self, text: str) -> str:
        # Some vendors quote the key they refused in the error message; the message
        # ends up in logs and command output, the key must not.
        for name, value in self._headers.items():
            if name.lower() not in _CREDENTIAL_HEADERS:
                continue
            for secret in (value, value.partition(" ")[2]):
                if len(secret) >= 8:
                    text = text.replace(secret, "[redacted]")
        return text

    def _backoff(self, attempt: int) -> float:
        return float(min(self._base_delay * 2 ** (attempt - 1), self._max_delay))


# Request headers that carry the admin key (Anthropic, OpenAI).
_CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization"})


def retry_after_seconds(value: str | None) -> float | None:
    """``retry-after`` in seconds when it is a number; None for absent or an HTTP date.

    An HTTP date would need the current time to interpret; falling back to the
    exponential backoff is safe and keeps the clock out of this module.
    """
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _json_object(response: httpx.Response, path: str) -> dict[str, Any]:
    # Money must not pass through float: parse JSON numbers with a fraction as Decimal.
    try:
        document = json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise UsageApiError(f"GET {path} returned invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise UsageApiError(f"GET {path} returned {type(document).__name__}, not an object")
    return document


def _error_text(response: httpx.Response) -> str:
    """The vendor's error message when the body has one, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return response.text[:200]


def record_id(prefix: str, *parts: str) -> str:
    """``prefix-<40 hex>``: the same parts always give the same id (unit-separator joined).

    Shared by every usage mapping (reports and OTLP) so ids have one shape.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"{prefix}-{digest}"


USD_PLACES = Decimal("1e-9")  # the ledger stores cost_usd with nine decimal places


def usd_text(amount: Decimal) -> str:
    """A dollar amount as the ledger's decimal string: at most nine places, no exponent.

    Reported costs can carry a double's long tail (``0.30000000000000004``); a
    nano-dollar is far below any price, so rounding there loses nothing that matters.
    """
    return format(amount.quantize(USD_PLACES, rounding=ROUND_HALF_EVEN).normalize(), "f")


def rfc3339(moment: datetime) -> str:
    """UTC, second precision, ``Z`` suffix (what both vendors' buckets use)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def count(value: Any) -> int:
    """A token count from a report row; absent or null is 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise UsageApiError(f"token count {value!r} is not an integer")
    number = Decimal(value)
    if number < 0 or number != number.to_integral_value():
        raise UsageApiError(f"token count {value!r} is not a non-negative integer")
    return int(number)


def require_aware(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
