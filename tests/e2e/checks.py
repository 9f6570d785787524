"""Ledger-wide checks shared by the pipeline and end-to-end tests.

The pipeline's result must equal the pure engine run from scratch over every
stored event (incident attributions included), and the entries must sum to the credits, whatever the arrival
order, batch size or number of workers.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from awu.rules.engine import evaluate
from awu.scoring import evidence, published
from awu.scoring.models import AwuEntry, WorkUnit
from awu.scoring.settle import attributions_json
from ledger.models import EventOutbox, WorkEvent


def all_events() -> list[Any]:
    ids = list(WorkEvent.objects.values_list("id", flat=True))
    return evidence.events_by_id(ids)


def expected_units(now: datetime) -> dict[tuple[int, int], tuple[Any, ...]]:
    """(version id, trigger id) -> the engine's view, for every governing version."""
    catalog = published.load_catalog()
    events = all_events()
    out: dict[tuple[int, int], tuple[Any, ...]] = {}
    for version in catalog.by_id.values():
        for r in evaluate(version.compiled, events, now):
            governing = catalog.governing(version.definition_id, r.triggered_at)
            if governing is None or governing.id != version.id:
                continue
            out[(version.id, r.trigger_id)] = (
                str(r.state),
                r.units,
                r.completed_at,
                r.closes_at,
                list(r.evidence),
                r.reason,
                attributions_json(r),
            )
    return out


def stored_units() -> dict[tuple[int, int], tuple[Any, ...]]:
    return {
        (u.version_id, u.trigger_event_id): (
            u.state,
            u.units,
            u.completed_at,
            u.closes_at,
            list(u.evidence),
            u.reason,
            u.attributions,
        )
        for u in WorkUnit.objects.filter(superseded_at__isnull=True)
    }


def assert_ledger_consistent() -> None:
    """Every unit's credited equals the sum of its entries and is its worth."""
    sums = dict(
        AwuEntry.objects.values_list("unit_id").annotate(s=Sum("delta")).values_list("unit_id", "s")
    )
    for unit in WorkUnit.objects.all():
        assert sums.get(unit.pk, Decimal(0)) == unit.credited, unit
        worth = unit.units if unit.state == WorkUnit.State.COMPLETED else Decimal(0)
        assert unit.credited == worth, unit


def assert_matches_engine(now: datetime) -> None:
    assert not EventOutbox.objects.exists()
    assert stored_units() == expected_units(now)
    assert_ledger_consistent()
