"""Celery tasks of the reports: keep the rollups in step (beat runs this)."""

from __future__ import annotations

from celery import shared_task

from awu.reports.rollups import rollups_refresh


@shared_task(name="awu.reports.tasks.refresh_rollups", acks_late=True, ignore_result=True)
def refresh_rollups() -> int:
    """One incremental rollup pass; returns the number of days recomputed."""
    stats = rollups_refresh()
    return len(stats.usage_days) + len(stats.entry_days) + len(stats.unit_days)
