"""The two promises every fault test ends on.

1. Every accepted event is in the ledger exactly once: one WorkEvent (and one
   idempotency key) per accepted (source, id), nothing else from the test's
   source, and nothing left unscored in the outbox.
2. The AWU ledger equals a from-scratch rescore: the pure engine run over all
   stored events gives the same current units (state, units, times, evidence,
   reason) as the pipeline stored, and each unit's AwuEntry deltas sum to what
   the engine says it is worth (tests/e2e/checks.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from awu.scoring import services
from awu.scoring.models import AwuEntry, WorkUnit
from ledger.models import EventKey, EventOutbox, WorkEvent
from tests.e2e import stories
from tests.e2e.checks import assert_matches_engine, expected_units


def created_counts(
    answers: Iterable[list[dict[str, Any]]], batch_ids: list[list[str]]
) -> Counter[str]:
    """How many times each id was answered ``created`` across all answers."""
    counts: Counter[str] = Counter()
    for results, ids in zip(answers, batch_ids, strict=True):
        for result in results:
            if result["status"] == "created":
                counts[ids[result["index"]]] += 1
    return counts


def assert_answers_are_created_or_duplicate(results: list[dict[str, Any]]) -> None:
    bad = [r for r in results if r["status"] not in ("created", "duplicate")]
    assert not bad, bad


def assert_stored_exactly_once(accepted: set[str], *, source: str = stories.SOURCE) -> None:
    """Each accepted id of ``source`` is one stored event with one key; no others."""
    stored = Counter(
        WorkEvent.objects.filter(source__slug=source).values_list("external_id", flat=True)
    )
    doubled = {k: n for k, n in stored.items() if n != 1}
    assert not doubled, f"stored more than once: {doubled}"
    missing = accepted - set(stored)
    assert not missing, f"accepted but not stored: {sorted(missing)[:10]} ({len(missing)})"
    stray = set(stored) - accepted
    assert not stray, f"stored but never accepted: {sorted(stray)[:10]} ({len(stray)})"
    keys = EventKey.objects.filter(source__slug=source).count()
    assert keys == len(accepted), (keys, len(accepted))


def assert_entries_match_rescore(now: datetime) -> None:
    """The sum of each current unit's entries is its worth in a fresh scoring."""
    expected = {
        key: (Decimal(units) if state == WorkUnit.State.COMPLETED else Decimal(0))
        for key, (state, units, *_rest) in expected_units(now).items()
    }
    rows = (
        AwuEntry.objects.filter(unit__superseded_at__isnull=True)
        .values("unit__version_id", "unit__trigger_event_id")
        .annotate(s=Sum("delta"))
    )
    sums = {(r["unit__version_id"], r["unit__trigger_event_id"]): r["s"] for r in rows}
    differing = {
        key: (sums.get(key, Decimal(0)), worth)
        for key, worth in expected.items()
        if sums.get(key, Decimal(0)) != worth
    }
    assert not differing, f"entry sums differ from a rescore: {differing}"
    assert set(sums) <= set(expected), set(sums) - set(expected)


def assert_exactly_once_and_equals_rescore(accepted: set[str], *, now: datetime) -> None:
    """The full check: settle what the clock closed, then both promises."""
    assert not EventOutbox.objects.exists(), "events left unscored"
    services.sweep(now=now)
    assert_stored_exactly_once(accepted)
    assert_matches_engine(now)
    assert_entries_match_rescore(now)
