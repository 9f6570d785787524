"""Run the alert rules now (beat runs them every AWU_ALERTS_EVALUATE_SECONDS)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from awu.alerts import services, tasks


class Command(BaseCommand):
    help = "Evaluate the alert rules, then send the deliveries and digests that are due."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = services.alerts_evaluate()
        swept = tasks.sweep()
        self.stdout.write(
            f"opened {counts['opened']}, resolved {counts['resolved']}, "
            f"active {counts['active']}; deliveries sent {swept['deliveries']}, "
            f"digests sent {swept['digests']}"
        )
