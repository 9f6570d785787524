"""``manage.py score_now``: one scoring pass and window sweep in the foreground."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count

from awu.scoring import services
from awu.scoring.models import WorkUnit
from ledger import clock


class Command(BaseCommand):
    help = "Score every unscored event and settle every window closed by now (the worker's code)."

    def handle(self, *args: Any, **options: Any) -> None:
        now = clock.now()
        drained = services.outbox_drain(clock=lambda: now)
        swept = services.sweep(now=now)
        states = dict(
            WorkUnit.objects.filter(superseded_at__isnull=True)
            .values_list("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
        )
        summary = ", ".join(f"{state} {states.get(state, 0)}" for state in WorkUnit.State.values)
        self.stdout.write(
            f"Scored {drained.events} events; swept {swept} units at {now:%Y-%m-%dT%H:%M:%SZ}."
        )
        self.stdout.write(f"Units: {summary}.")
