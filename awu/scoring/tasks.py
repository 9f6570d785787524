"""Celery tasks for scoring: thin wrappers over awu.scoring.services.

Both take no arguments (the broker carries wake-ups only; the outbox in the
database is the source of truth) and are idempotent, ``acks_late`` and
``reject_on_worker_lost``: a killed worker's task is redelivered, and its
uncommitted batch is rolled back and claimed again.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from awu.scoring import services
from ledger import clock

# Drain for about this long, then hand the rest to a fresh task so one busy
# queue cannot hold a worker process forever.
DRAIN_BUDGET_SECONDS = 10.0


@shared_task(
    name="awu.scoring.tasks.score_pending",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # A dropped database connection (restart, failover, terminated backend) rolls
    # the batch back and fails the task, which consumes its wake-up: retry soon
    # instead of leaving the outbox to the next sweep. Celery closes the broken
    # connection before the retry runs.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=10,
)
def score_pending() -> int:
    result = services.outbox_drain(clock=clock.now, budget_seconds=DRAIN_BUDGET_SECONDS)
    if result.more:
        score_pending.apply_async()
    return result.events


@shared_task(
    name="awu.scoring.tasks.sweep",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def sweep() -> int:
    return services.sweep(now=clock.now())


@worker_ready.connect
def _drain_on_start(**kwargs: Any) -> None:
    """A worker that starts drains what the outbox already holds, without waiting
    for beat's sweep: after a restore, a broker wiped or replaced, or a deploy, the
    wake-ups sent for that work may be gone with the old broker."""
    sweep.apply_async()
