"""The same batch delivered by several clients at once, duplicated and reordered.

Exactly one answer across all clients says ``created`` for each item, every
other answer says ``duplicate``, and the AWU ledger equals a rescore.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.models import EventOutbox
from tests.e2e import stories
from tests.reliability.checks import (
    assert_answers_are_created_or_duplicate,
    assert_exactly_once_and_equals_rescore,
    created_counts,
)
from tests.reliability.conftest import RetryingClient, Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLIENTS = 6


def _delivery(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The batch shuffled, with about a tenth of its items delivered twice."""
    rnd = random.Random(seed)
    items = events + rnd.sample(events, len(events) // 10)
    rnd.shuffle(items)
    return items


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_concurrent_duplicated_reordered_deliveries_create_each_event_once(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    events = stories.mix(count=300, now=datetime.now(UTC), seed=41)
    deliveries = [_delivery(events, seed) for seed in range(CLIENTS)]
    client = RetryingClient(stack)
    answers: list[list[dict[str, Any]]] = [[] for _ in deliveries]
    start = threading.Barrier(CLIENTS)

    def deliver(n: int) -> None:
        start.wait()
        answers[n] = client.post(deliveries[n])

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert all(len(a) == len(d) for a, d in zip(answers, deliveries, strict=True))
    for results in answers:
        assert_answers_are_created_or_duplicate(results)
    ids = [[e["id"] for e in delivery] for delivery in deliveries]
    created = created_counts(answers, ids)
    accepted = {e["id"] for e in events}
    assert created == dict.fromkeys(accepted, 1), {k: n for k, n in created.items() if n != 1}
    record_property("statuses", client.statuses())
    # Shared keys are claimed in one order by every batch, so differently shuffled
    # copies wait for each other and never deadlock (a deadlock would answer 503).
    assert set(client.statuses()) <= {200, 201}, client.statuses()

    wait_for(lambda: not EventOutbox.objects.exists(), timeout=60, what="the outbox to drain")
    assert_exactly_once_and_equals_rescore(accepted, now=datetime.now(UTC))
