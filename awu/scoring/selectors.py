"""Reads of scored work that other packages ask for (through ledger.actor_work)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from awu.scoring.models import WorkUnit


def units_per_actor(actors: Sequence[str], since: datetime) -> dict[str, tuple[int, Decimal]]:
    """(work units, AWUs credited) per actor, of the current units triggered since."""
    rows = (
        WorkUnit.objects.filter(actor__in=list(actors), superseded_at__isnull=True)
        .filter(triggered_at__gte=since)
        .values("actor")
        .annotate(units=Count("pk"), awus=Coalesce(Sum("credited"), Decimal(0)))
        .values_list("actor", "units", "awus")
    )
    return {actor: (units, Decimal(awus)) for actor, units, awus in rows if actor is not None}
