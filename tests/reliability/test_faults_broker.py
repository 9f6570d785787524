"""The broker stopped while events are posted, then started again.

The stack runs on a private redis-server (its own port, no persistence) so the
machine's shared broker is never touched. While it is down, ingest keeps
answering 2xx (wake-ups are sent off the request path and may be lost); when it
is back, the beat's sweep finds the unscored events and scoring catches up, and
the web's wake-ups reach the workers again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import redis

from ledger.models import EventOutbox
from tests.e2e import stories
from tests.reliability.checks import (
    assert_answers_are_created_or_duplicate,
    assert_exactly_once_and_equals_rescore,
)
from tests.reliability.conftest import (
    PrivateRedis,
    Stack,
    post_events,
    start_beat,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BATCH = 50


def no_sweep_left(stack: Stack, server: PrivateRedis) -> bool:
    """No sweep is queued, and every sweep the worker received has finished."""
    log = (stack.logs / "worker-0.log").read_text(errors="replace")
    received = len(re.findall(r"tasks\.sweep\[[^\]]+\] received", log))
    finished = len(re.findall(r"tasks\.sweep\[[^\]]+\] (succeeded|raised)", log))
    queued = redis.Redis.from_url(server.url).llen(stack.queue)
    return queued == 0 and received <= finished


@pytest.fixture
def broker(private_redis: PrivateRedis) -> str:
    # This module's stack runs on the private redis-server.
    return private_redis.url


def test_ingest_accepts_while_the_broker_is_down_and_scoring_catches_up_after(
    stack: Stack, private_redis: PrivateRedis, record_property: Callable[[str, object], None]
) -> None:
    beat = start_beat(stack, sweep_seconds=1.0)
    events = stories.mix(count=400, now=datetime.now(UTC), seed=63)
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]

    before = post_events(stack, batches[0])
    assert before.status == 201, before.body
    wait_for(lambda: not EventOutbox.objects.exists(), timeout=30, what="scoring before the outage")

    private_redis.kill()
    down = time.monotonic()
    during = [post_events(stack, batch, timeout=30) for batch in batches[1:]]
    assert [a.status for a in during] == [201] * len(during), [a.body for a in during]
    for answer in during:
        assert_answers_are_created_or_duplicate(answer.body["results"])
    worker_log = stack.logs / "worker-0.log"
    wait_for(
        lambda: "Connection to broker lost" in worker_log.read_text(errors="replace"),
        timeout=30,
        what="the worker to notice the outage",
    )

    record_property("outage_seconds", round(time.monotonic() - down, 2))
    record_property("outbox_when_broker_returned", EventOutbox.objects.count())
    private_redis.start()
    back = time.monotonic()
    wait_for(
        lambda: not EventOutbox.objects.exists(),
        timeout=60,
        what="scoring to catch up after the broker returned",
    )
    record_property("catch_up_seconds", round(time.monotonic() - back, 2))

    # With beat gone, only the web's own wake-up can get the next batch scored:
    # its connection to the broker came back too.
    stack.kill_worker(beat)
    wait_for(
        lambda: no_sweep_left(stack, private_redis), timeout=30, what="the last sweep to finish"
    )
    after = stories.contract("after-outage", datetime.now(UTC))
    answer = post_events(stack, after)
    assert answer.status == 201, answer.body
    wait_for(
        lambda: not EventOutbox.objects.exists(), timeout=30, what="a wake-up after the outage"
    )
    accepted = {e["id"] for e in events + after}
    assert_exactly_once_and_equals_rescore(accepted, now=datetime.now(UTC))
