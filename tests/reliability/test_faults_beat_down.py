"""Beat down while time passes, then back: windows close late but correctly.

Time is AWU_NOW in the worker and beat environments. Events are scored at T0
(the wall clock) with no beat running; the worker then restarts with beat at
T1 = T0 + 20 days, as if beat had been down that long. Its first sweeps settle
every window that closed in between, each at its own closing time
(``completed_at``, the entry's ``effective_at``), not at the time of the late
sweep; windows still open stay pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from awu.scoring.models import AwuEntry, WorkUnit
from ledger.models import EventOutbox, WorkEvent
from tests.e2e import stories
from tests.reliability.checks import assert_exactly_once_and_equals_rescore
from tests.reliability.conftest import Stack, post_events, restart_workers, start_beat, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _unit(event_id: str) -> WorkUnit:
    trigger = WorkEvent.objects.get(source__slug=stories.SOURCE, external_id=event_id)
    return WorkUnit.objects.get(trigger_event_id=trigger.pk, superseded_at__isnull=True)


def _states() -> dict[str, str]:
    return {
        tag: _unit(trigger).state
        for tag, trigger in [
            ("ticket", "tk-resolved"),
            ("reopened", "tk2-resolved"),
            ("change", "dc-merged"),
            ("undeployed", "nd-merged"),
            ("contract", "ct-signed"),
        ]
    }


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_windows_closed_while_beat_was_down_settle_late_at_their_own_time(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    # The stack starts on the wall clock: that is T0.
    t0 = datetime.now(UTC).replace(microsecond=0)
    t1 = t0 + timedelta(days=20)
    resolved_at = t0 - timedelta(days=1)
    events = [
        # Resolution: 7-day window, closes at T0 + 6 days.
        *stories.ticket("tk", resolved_at),
        # Reopened inside its window: voided at once, whatever the time.
        *stories.ticket("tk2", resolved_at, reopen_after=0.5),
        # Durable change deployed: 30 days from the deploy, still open at T1.
        *stories.durable_change("dc", t0 - timedelta(days=2), deploy_after=1),
        # Never deployed: the 14-day deploy deadline passes before T1.
        *stories.durable_change("nd", t0 - timedelta(days=2), deploy_after=None),
        # Contract signed 40 days ago: its 30-day window closed before it arrived,
        # so it settles as it is scored (a backfill), beat or no beat.
        *stories.contract("ct", t0 - timedelta(days=40)),
    ]
    answer = post_events(stack, events)
    assert answer.status == 201, answer.body
    wait_for(lambda: not EventOutbox.objects.exists(), timeout=30, what="scoring at T0")
    assert _states() == {
        "ticket": "pending",
        "reopened": "voided",
        "change": "pending",
        "undeployed": "pending",
        "contract": "completed",
    }

    # Twenty days later, beat comes back.
    restart_workers(stack, AWU_NOW=_rfc3339(t1))
    start_beat(stack, sweep_seconds=1.0)
    back = time.monotonic()
    wait_for(
        lambda: _states()["ticket"] == "completed" and _states()["undeployed"] == "expired",
        timeout=30,
        what="the late sweep to settle the closed windows",
    )

    record_property("settle_seconds_after_beat_start", round(time.monotonic() - back, 2))
    assert _states() == {
        "ticket": "completed",
        "reopened": "voided",
        "change": "pending",
        "undeployed": "expired",
        "contract": "completed",
    }
    ticket = _unit("tk-resolved")
    assert ticket.completed_at == resolved_at + timedelta(days=7)
    entry = AwuEntry.objects.get(unit=ticket)
    assert (entry.delta, entry.effective_at) == (Decimal(1), resolved_at + timedelta(days=7))
    # Recorded when the late sweep ran: a report "as of" before then did not count it.
    assert entry.created_at == t1
    undeployed = _unit("nd-merged")
    assert undeployed.completed_at is None
    assert not AwuEntry.objects.filter(unit=undeployed).exists()
    assert "deploy.succeeded" in (undeployed.reason or "")
    change = _unit("dc-merged")
    assert change.closes_at == t0 - timedelta(days=1) + timedelta(days=30)
    assert_exactly_once_and_equals_rescore({e["id"] for e in events}, now=t1)
