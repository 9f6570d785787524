"""Celery tasks of the ledger (beat runs them)."""

from __future__ import annotations

from celery import shared_task

from ledger.partitions import partitions_ensure


@shared_task(name="ledger.tasks.ensure_partitions", ignore_result=True)
def ensure_partitions() -> list[str]:
    """The record tables' monthly partitions, created months ahead; idempotent."""
    return partitions_ensure()
