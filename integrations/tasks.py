"""Celery tasks of the integrations: an interface like views, holding no logic."""

from __future__ import annotations

import logging

from celery import shared_task

from integrations.usage_reports.importing import (
    PROVIDERS,
    UsageImportError,
    credentials_from_env,
    usage_report_import,
    yesterday,
)
from ledger import clock

logger = logging.getLogger(__name__)


@shared_task(name="integrations.tasks.import_usage_reports", acks_late=True)
def import_usage_reports() -> dict[str, dict[str, int]]:
    """Import yesterday's closed daily buckets for every provider with a key configured.

    Meant for beat, once a day. Idempotent (a re-run stores duplicates only), so a
    redelivered or overlapping run is harmless. A provider without a key is skipped;
    a vendor API failure is raised for that provider after the others have run.
    """
    start, end = yesterday(clock.now())
    summary: dict[str, dict[str, int]] = {}
    failures: list[Exception] = []
    for slug, provider in sorted(PROVIDERS.items()):
        try:
            credentials = credentials_from_env(provider)
        except UsageImportError:
            continue
        try:
            result = usage_report_import(
                provider=provider,
                credentials=credentials,
                start=start,
                end=end,
                now=clock.now(),
                progress=logger.info,
            )
        except Exception as exc:  # one vendor's outage must not skip the others
            logger.exception("%s usage import failed", slug)
            failures.append(exc)
            continue
        summary[slug] = dict(result.counts)
    if failures:
        raise failures[0]
    return summary
