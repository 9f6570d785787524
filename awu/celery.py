"""The Celery application. Tasks live next to the services they call."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.schedules import crontab

import awu.broker  # noqa: F401 - registers the awufs:// transport before any connection

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")

app = Celery("awu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The default app, not only the current one (which is per thread): the ledger sends
# its wake-ups and checks the broker through celery.current_app from any thread.
app.set_default()


@app.on_after_configure.connect
def _schedule_sweep(sender: Celery, **kwargs: Any) -> None:
    # Beat's one job: settle windows that time has closed and pick up anything a
    # lost wake-up left in the outbox. Read here, after Django's settings load.
    from django.conf import settings

    sender.add_periodic_task(
        settings.AWU_SWEEP_SECONDS,
        sender.signature("awu.scoring.tasks.sweep"),
        name="awu-sweep",
    )
    # Report rollups catch up with new entries and usage (reports also refresh
    # them on demand when they are behind).
    sender.add_periodic_task(
        settings.AWU_SWEEP_SECONDS,
        sender.signature("awu.reports.tasks.refresh_rollups"),
        name="awu-refresh-rollups",
    )
    # The ledger's monthly partitions, created months before they are needed.
    sender.add_periodic_task(
        crontab(minute=7),
        sender.signature("ledger.tasks.ensure_partitions"),
        name="awu-ensure-partitions",
    )
    # Yesterday's vendor usage reports (Anthropic, OpenAI), for keys configured.
    sender.add_periodic_task(
        crontab(hour=2, minute=15),
        sender.signature("integrations.tasks.import_usage_reports"),
        name="awu-import-usage-reports",
    )
    # Alert rules (docs/alerts.md), and the sweep of deliveries and digests that are due.
    sender.add_periodic_task(
        settings.AWU_ALERTS_EVALUATE_SECONDS,
        sender.signature("awu.alerts.tasks.evaluate"),
        name="awu-alerts-evaluate",
    )
    sender.add_periodic_task(
        settings.AWU_ALERTS_SWEEP_SECONDS,
        sender.signature("awu.alerts.tasks.sweep"),
        name="awu-alerts-sweep",
    )
