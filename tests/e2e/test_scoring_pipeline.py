"""Events posted over HTTP are scored by real Celery workers through a real broker.

The clock is the wall clock (no AWU_NOW): stories are placed in the past, so
their windows have closed by the time they are scored.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from awu.scoring import services
from awu.scoring.models import AwuEntry, WorkUnit
from ledger.ingest import events_ingest
from ledger.models import EventOutbox, WorkEvent
from tests.e2e import stories
from tests.e2e.checks import assert_matches_engine
from tests.e2e.conftest import Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _now() -> datetime:
    return datetime.now(UTC)


def unit_for(tag: str, event_type: str) -> WorkUnit | None:
    trigger = WorkEvent.objects.filter(
        source__slug=stories.SOURCE, external_id__startswith=f"{tag}-", type=event_type
    ).first()
    if trigger is None:
        return None
    return WorkUnit.objects.filter(trigger_event_id=trigger.pk, superseded_at__isnull=True).first()


def entries(unit: WorkUnit) -> list[Decimal]:
    return list(AwuEntry.objects.filter(unit=unit).order_by("id").values_list("delta", flat=True))


def outbox_empty() -> bool:
    return not EventOutbox.objects.exists()


def settle_and_check() -> None:
    """Once the workers are done: settle windows the clock closed meanwhile, then
    the ledger must equal the engine over all events, with entries summing up."""
    now = _now()
    services.sweep(now=now)
    assert_matches_engine(now)


def test_signed_contract_whose_window_has_closed_is_credited_within_seconds(
    stack: Stack,
) -> None:
    posted = time.monotonic()
    # A backfill: signed 31 days ago, so the 30-day window closed before it arrived.
    stack.post(stories.contract("k", _now() - timedelta(days=31)))

    unit = wait_for(
        lambda: (u := unit_for("k", "contract.signed")) and u.state == "completed" and u,
        timeout=10,
        what="the contract's unit",
    )

    assert time.monotonic() - posted < 10
    assert entries(unit) == [Decimal(1)]


def test_engineering_story_completes_then_a_late_incident_voids_it(stack: Stack) -> None:
    merged_at = _now() - timedelta(days=60)
    story = stories.durable_change(
        "eng", merged_at, deploy_after=1, disqualifier="incident", disqualify_after=10
    )
    stack.post(story[:2])  # merged 60 days ago, deployed 59 days ago: window closed
    unit = wait_for(
        lambda: (u := unit_for("eng", "code.pr.merged")) and u.state == "completed" and u,
        what="the change to complete",
    )
    assert unit.completed_at == merged_at + timedelta(days=31)

    stack.post(story[2:])  # an incident 50 days ago, attributed to the change, arrives now
    wait_for(
        lambda: unit_for("eng", "code.pr.merged").state == "voided",  # type: ignore[union-attr]
        what="the late incident to void the change",
    )
    assert entries(unit) == [Decimal(1), Decimal(-1)]


@pytest.mark.parametrize("broker", ["filesystem"], indirect=True)
def test_out_of_order_arrival_scores_like_in_order(stack: Stack) -> None:
    start = _now() - timedelta(days=70)
    story = stories.durable_change("ooo", start, disqualifier="rollback", disqualify_after=8)
    clean = stories.durable_change("ok", start, deploy_after=2)
    for event in reversed(story + clean):  # rollback first, merge last
        stack.post([event])
    wait_for(outbox_empty, what="the outbox to drain")
    assert unit_for("ooo", "code.pr.merged").state == "voided"  # type: ignore[union-attr]
    assert unit_for("ok", "code.pr.merged").state == "completed"  # type: ignore[union-attr]
    settle_and_check()


# The heavy tests run on the default broker and Redis; RabbitMQ is covered above.
HEAVY_BROKERS = ["filesystem", "redis"]


@pytest.mark.slow
@pytest.mark.parametrize("broker", HEAVY_BROKERS, indirect=True)
def test_two_workers_over_a_big_batch_never_double_count(stack: Stack) -> None:
    stack.start_worker()
    stack.wait_ready()
    events = stories.mix(count=2500, now=_now(), seed=21)
    for start in range(0, len(events), 1000):
        stack.post(events[start : start + 1000])
    wait_for(outbox_empty, timeout=60, what="the outbox to drain")
    settle_and_check()
    assert WorkUnit.objects.count() == len(
        set(WorkUnit.objects.values_list("version_id", "trigger_event_id"))
    )


@pytest.mark.slow
@pytest.mark.parametrize("broker", HEAVY_BROKERS, indirect=True)
def test_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(stack: Stack) -> None:
    events = stories.mix(count=4000, now=_now(), seed=33)
    for start in range(0, len(events), 1000):
        stack.post(events[start : start + 1000])
    # Kill as soon as the first batch has committed: the worker is mid-drain.
    wait_for(
        lambda: EventOutbox.pending() < len(events),
        timeout=30,
        what="the first batch",
    )
    stack.kill_worker(stack.workers[0])
    assert EventOutbox.objects.exists(), "the worker finished before it could be killed"

    stack.start_worker()
    stack.wait_ready()
    # A redelivered task or this wake-up: either way the outbox is drained.
    stack.post(stories.contract("after-kill", _now() - timedelta(minutes=5)))
    wait_for(outbox_empty, timeout=60, what="the outbox to drain after the restart")
    settle_and_check()


def test_a_starting_worker_drains_work_whose_wake_ups_were_lost(stack: Stack) -> None:
    """Events stored while no worker ran, their wake-ups never reaching the stack's
    queue (as after a restore or a broker replaced): a new worker drains them
    itself, with no beat and no new post."""
    stack.kill_worker(stack.workers[0])
    # Stored from this process: its wake-up goes to this process's broker, never
    # to the stack's queue.
    results = events_ingest(items=stories.mix(count=200, now=_now(), seed=7), now=_now())
    assert all(r.status == "created" for r in results)
    assert not outbox_empty()
    stack.start_worker()
    stack.wait_ready()
    wait_for(outbox_empty, timeout=60, what="the new worker to drain the outbox")
    settle_and_check()
