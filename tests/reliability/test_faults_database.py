"""PostgreSQL connections dropped under ingest and scoring.

A connection killer terminates every backend of the stack on the test
database every few tens of milliseconds while clients post. Clients see a
success or a 503 with Retry-After, never a 500; a batch is stored whole or not
at all; retrying gives the right answers; scoring recovers by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from ledger.models import EventOutbox
from tests.e2e import stories
from tests.reliability.checks import (
    assert_answers_are_created_or_duplicate,
    assert_exactly_once_and_equals_rescore,
    created_counts,
)
from tests.reliability.conftest import (
    ConnectionKiller,
    Stack,
    post_events,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLIENTS = 3
BATCH = 25


def _stored_of(conn: psycopg.Connection[Any], batch: list[dict[str, Any]]) -> int:
    row = conn.execute(
        """
        SELECT count(*) FROM ledger_workevent e JOIN ledger_source s ON s.id = e.source_id
        WHERE s.slug = %s AND e.external_id = ANY(%s)
        """,
        [stories.SOURCE, [e["id"] for e in batch]],
    ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Delivery:
    """What one batch met: its 2xx answers, and whether a 503 left it stored."""

    batch: list[dict[str, Any]]
    successes: list[list[dict[str, Any]]] = field(default_factory=list)
    refused: int = 0
    stored_though_refused: bool = False
    partial: list[int] = field(default_factory=list)


def _deliver_twice(stack: Stack, delivery: Delivery, conn: psycopg.Connection[Any]) -> None:
    """Post a batch until two posts succeeded (a delivery and a redelivery),
    retrying every 503; after each 503 the batch must be stored whole or not at all."""
    for _ in range(200):
        if len(delivery.successes) == 2:
            return
        answer = post_events(stack, delivery.batch)
        if answer.status in (200, 201):
            delivery.successes.append(answer.body["results"])
            continue
        assert answer.status == 503, f"unexpected answer {answer.status}: {answer.body}"
        assert answer.retry_after, "a 503 must say when to retry"
        delivery.refused += 1
        stored = _stored_of(conn, delivery.batch)
        if stored == len(delivery.batch):
            # Committed, then the connection dropped before the answer was built.
            delivery.stored_though_refused |= not delivery.successes
        elif stored:
            delivery.partial.append(stored)
        time.sleep(0.02)
    raise AssertionError("no two successes in 200 tries")


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_dropped_connections_give_503_or_success_and_lose_or_double_nothing(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    events = stories.mix(count=300, now=datetime.now(UTC), seed=57)
    deliveries = [Delivery(events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    errors: list[Exception] = []

    def deliver(mine: list[Delivery], conn: psycopg.Connection[Any]) -> None:
        try:
            for delivery in mine:
                _deliver_twice(stack, delivery, conn)
        except Exception as exc:
            errors.append(exc)

    killer = ConnectionKiller(interval=0.03)
    # Each client checks its refused batches on a connection the killer spares.
    conns = [killer.spared_connection() for _ in range(CLIENTS)]
    with killer:
        threads = [
            threading.Thread(target=deliver, args=(deliveries[n::CLIENTS], conns[n]))
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    for conn in conns:
        conn.close()
    stopped = time.monotonic()

    assert not errors, errors
    assert killer.terminated > 0
    assert sum(d.refused for d in deliveries) > 0, "no request met a dropped connection"
    assert not [d.partial for d in deliveries if d.partial], "a batch was partly stored"
    for delivery in deliveries:
        ids = [e["id"] for e in delivery.batch]
        for results in delivery.successes:
            assert_answers_are_created_or_duplicate(results)
        created = created_counts(delivery.successes, [ids] * len(delivery.successes))
        # One ``created`` per item, except where a 503 came after the commit:
        # then every answer, retries included, rightly says ``duplicate``.
        expected = 0 if delivery.stored_though_refused and not created else 1
        assert all(created[i] == expected for i in ids), (created, delivery.refused)
    accepted = {e["id"] for e in events}
    record_property("backends_terminated", killer.terminated)
    record_property("answers_503", sum(d.refused for d in deliveries))
    record_property("answers_2xx", sum(len(d.successes) for d in deliveries))
    record_property("stored_though_503", sum(d.stored_though_refused for d in deliveries))
    record_property("outbox_when_drops_stopped", EventOutbox.objects.count())
    wait_for(
        lambda: not EventOutbox.objects.exists(),
        timeout=60,
        what="scoring to recover and drain the outbox",
    )
    record_property("catch_up_seconds", round(time.monotonic() - stopped, 2))
    assert_exactly_once_and_equals_rescore(accepted, now=datetime.now(UTC))
