"""Workers SIGKILLed again and again while clients keep posting.

tests/e2e covers one kill in the middle of a big backlog; here the kills land
while batches keep arriving, and a fresh worker starts each time without the
posting ever pausing. Whatever the killed worker held is rolled back and
claimed again (acks_late, reject_on_worker_lost, SKIP LOCKED claims).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from ledger.models import EventOutbox
from tests.e2e import stories
from tests.reliability.checks import (
    assert_answers_are_created_or_duplicate,
    assert_exactly_once_and_equals_rescore,
)
from tests.reliability.conftest import Stack, post_events, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BATCH = 40
KILL_AFTER = {2, 6}  # batch numbers after which the running worker is killed


def _received(log: Path) -> int:
    """How many scoring tasks the worker writing ``log`` has received so far."""
    return len(re.findall(r"score_pending\[[^\]]+\] received", _read(log)))


def _received_more(log: Path, than: int) -> bool:
    return _received(log) > than


def _busy(log: Path) -> bool:
    """The worker has received a scoring task that it has not finished."""
    finished = len(re.findall(r"score_pending\[[^\]]+\] (succeeded|raised|retry)", _read(log)))
    return _received(log) > finished


def _read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_workers_killed_under_sustained_posting_lose_and_double_nothing(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    events = stories.mix(count=360, now=datetime.now(UTC), seed=77)
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    kills = mid_task = 0
    for n, batch in enumerate(batches):
        if n in KILL_AFTER:
            # The previous replacement must be up, so that the kill hits a worker
            # that is scoring what is posted now.
            stack.wait_ready()
            log = stack.logs / f"worker-{stack._started - 1}.log"
            before = _received(log)
        answer = post_events(stack, batch)
        assert answer.status == 201, answer.body
        assert_answers_are_created_or_duplicate(answer.body["results"])
        if n in KILL_AFTER:
            # Kill as soon as the batch's wake-up has reached the worker: usually in
            # the middle of its scoring task (a 40-event pass takes tens of ms, so
            # it may also just have finished; the count is recorded, not required).
            wait_for(partial(_received_more, log, before), timeout=30, what="the wake-up")
            stack.kill_worker(stack.workers[0])
            mid_task += _busy(log)
            kills += 1
            stack.start_worker()  # posting goes on while it starts
    assert kills == len(KILL_AFTER)
    record_property("kills_during_a_scoring_task", mid_task)
    stack.wait_ready()
    ready = time.monotonic()
    record_property("outbox_when_last_worker_ready", EventOutbox.objects.count())
    wait_for(
        lambda: not EventOutbox.objects.exists(),
        timeout=60,
        what="the outbox to drain after the last restart",
    )
    record_property("drain_seconds", round(time.monotonic() - ready, 2))
    assert_exactly_once_and_equals_rescore({e["id"] for e in events}, now=datetime.now(UTC))
