"""Celery tasks of the alerts: interfaces over awu.alerts.services and digest."""

from __future__ import annotations

from celery import shared_task

from awu.alerts import digest, services


@shared_task(name="awu.alerts.tasks.evaluate")
def evaluate() -> dict[str, int]:
    """Beat: run the alert rules."""
    return services.alerts_evaluate()


@shared_task(name="awu.alerts.tasks.deliver")
def deliver(delivery_id: int) -> str | None:
    """Send one delivery now (queued when its transition commits)."""
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="awu.alerts.tasks.sweep")
def sweep() -> dict[str, int]:
    """Beat: send deliveries whose retry is due (or whose wake-up was lost), make
    this week's digest runs when it is time, and send pending digests."""
    sent = 0
    for pk in services.deliveries_due():
        if services.delivery_attempt(delivery_id=pk) is not None:
            sent += 1
    digest.digest_runs_create()
    return {"deliveries": sent, "digests": digest.digests_send()}
