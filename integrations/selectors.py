"""Reads over the ledger for the integrations' pages.

* ``unmapped_actors``: actors seen on events and usage that no Identity maps yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection


@dataclass(frozen=True)
class UnmappedActor:
    """An actor string seen on the ledger that no Identity resolves to a person."""

    actor: str
    events: int
    usage_records: int
    last_seen: datetime


def unmapped_actors(*, since: datetime, limit: int = 200) -> list[UnmappedActor]:
    """Actors on work events and token usage since ``since`` with no Identity, busiest first.

    Bounded by ``since`` (``occurred_at``, indexed) so the page stays fast on a
    large ledger; counts are over that window.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH seen AS (
                SELECT actor, count(*) AS events, 0 AS usage_records, max(occurred_at) AS last_seen
                FROM ledger_workevent
                WHERE occurred_at >= %(since)s AND actor IS NOT NULL AND actor <> ''
                GROUP BY actor
                UNION ALL
                SELECT actor, 0, count(*), max(occurred_at)
                FROM ledger_tokenusage
                WHERE occurred_at >= %(since)s AND actor IS NOT NULL AND actor <> ''
                GROUP BY actor
            )
            SELECT s.actor, sum(s.events)::bigint, sum(s.usage_records)::bigint, max(s.last_seen)
            FROM seen s
            WHERE NOT EXISTS (
                SELECT 1 FROM ledger_identity i WHERE i.value = s.actor AND i.retracted_at IS NULL
            )
            GROUP BY s.actor
            ORDER BY sum(s.events) + sum(s.usage_records) DESC, s.actor
            LIMIT %(limit)s
            """,
            {"since": since, "limit": limit},
        )
        return [UnmappedActor(*row) for row in cursor.fetchall()]
