"""Importing vendor usage reports (Anthropic, OpenAI) into the ledger.

``usage_report_import`` pulls the daily buckets of a window through the vendor
client and stores them with ``ledger.ingest.usage_ingest`` under the provider's
report source (``anthropic-usage-report`` / ``openai-usage-report``). The
``import_usage`` command and the beat task ``import_usage_reports`` call it.

Only closed buckets are pulled: the window is cut at the start of the current UTC
day, because a bucket still filling would come back larger on the next pull and,
under the same record id, be refused as a conflict.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from integrations.usage_reports.anthropic import DEFAULT_BASE_URL as ANTHROPIC_BASE_URL
from integrations.usage_reports.anthropic import AnthropicUsageClient
from integrations.usage_reports.client import UsageApiError
from integrations.usage_reports.openai import DEFAULT_BASE_URL as OPENAI_BASE_URL
from integrations.usage_reports.openai import OpenAIUsageClient
from ledger import ingest
from ledger.models import Source

# Stored per chunk so one transaction never holds a whole month of buckets.
CHUNK = 1000


@dataclass(frozen=True)
class Provider:
    """A vendor whose organisation usage report can be imported."""

    slug: str
    source_slug: str
    key_env: str
    base_url_env: str
    default_base_url: str
    client: Callable[[str, str], AnthropicUsageClient | OpenAIUsageClient]


PROVIDERS: dict[str, Provider] = {
    "anthropic": Provider(
        slug="anthropic",
        source_slug="anthropic-usage-report",
        key_env="ANTHROPIC_ADMIN_API_KEY",
        base_url_env="ANTHROPIC_ADMIN_API_BASE_URL",
        default_base_url=ANTHROPIC_BASE_URL,
        client=lambda key, base_url: AnthropicUsageClient(key, base_url=base_url),
    ),
    "openai": Provider(
        slug="openai",
        source_slug="openai-usage-report",
        key_env="OPENAI_ADMIN_API_KEY",
        base_url_env="OPENAI_ADMIN_API_BASE_URL",
        default_base_url=OPENAI_BASE_URL,
        client=lambda key, base_url: OpenAIUsageClient(key, base_url=base_url),
    ),
}


class UsageImportError(Exception):
    """The import cannot run (no key, no closed bucket in the window)."""


@dataclass
class ImportResult:
    provider: str
    start: datetime
    end: datetime
    fetched: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Credentials:
    key: str
    base_url: str


def credentials_from_env(provider: Provider, environ: dict[str, str] | None = None) -> Credentials:
    """The admin key and base URL from the environment; raises UsageImportError without a key."""
    env = os.environ if environ is None else environ
    key = env.get(provider.key_env, "").strip()
    if not key:
        raise UsageImportError(f"{provider.key_env} is not set; it needs an Admin API key")
    base_url = env.get(provider.base_url_env, "").strip() or provider.default_base_url
    return Credentials(key=key, base_url=base_url)


def closed_window(*, start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) cut at the start of ``now``'s UTC day; raises when nothing is left."""
    today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    stop = min(end, today)
    if stop <= start:
        raise UsageImportError(
            f"no closed daily bucket between {start:%Y-%m-%d} and {end:%Y-%m-%d}: "
            f"buckets close at the end of their UTC day (today is {today:%Y-%m-%d})"
        )
    return start, stop


def yesterday(now: datetime) -> tuple[datetime, datetime]:
    """The last closed day before ``now``, as [start, end)."""
    today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    return today - timedelta(days=1), today


def usage_report_source(provider: Provider) -> Source:
    source, _ = Source.objects.get_or_create(
        kind=provider.slug,
        slug=provider.source_slug,
        defaults={"name": f"{provider.slug} organisation usage report"},
    )
    return source


def usage_report_import(
    *,
    provider: Provider,
    credentials: Credentials,
    start: datetime,
    end: datetime,
    now: datetime,
    progress: Callable[[str], None] = lambda _: None,
) -> ImportResult:
    """Pull the closed daily buckets of [start, end) and store them; returns the counts.

    Idempotent: record ids are deterministic per bucket, so a re-run answers
    duplicates. Raises UsageImportError when no closed bucket is in the window and
    UsageApiError when the vendor API refuses or keeps failing (nothing of the
    failed pull is stored).
    """
    start, end = closed_window(start=start, end=end, now=now)
    result = ImportResult(provider=provider.slug, start=start, end=end)
    progress(f"{provider.slug}: fetching {start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}")
    client = provider.client(credentials.key, credentials.base_url)
    try:
        records = client.fetch(start, end)
    finally:
        client.close()
    result.fetched = len(records)
    progress(f"{provider.slug}: {len(records)} usage record(s) fetched")
    source = usage_report_source(provider)
    for offset in range(0, len(records), CHUNK):
        chunk = [{**record, "source": source.slug} for record in records[offset : offset + CHUNK]]
        outcomes = ingest.usage_ingest(items=chunk, now=now, source_id=source.pk)
        for outcome in outcomes:
            result.counts[outcome.status] += 1
            if outcome.status in ("invalid", "conflict") and len(result.problems) < 5:
                why = outcome.detail or "; ".join(
                    f"{k}: {', '.join(v)}" for k, v in (outcome.errors or {}).items()
                )
                result.problems.append(f"{chunk[outcome.index]['id']}: {outcome.status}: {why}")
        progress(f"{provider.slug}: stored {min(offset + CHUNK, len(records))}/{len(records)}")
    return result


__all__ = [
    "PROVIDERS",
    "Credentials",
    "ImportResult",
    "UsageApiError",
    "UsageImportError",
    "closed_window",
    "credentials_from_env",
    "usage_report_import",
    "yesterday",
]
