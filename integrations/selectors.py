"""Reads over the ledger for the integrations' pages and API.

* ``unmapped_actors``: actors seen on events and usage that no Identity maps yet,
  with what they carry (spend, work units) and the people proposed for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection

from integrations.models import ActorProposal
from integrations.proposals import proposals_open
from ledger import actor_work


@dataclass(frozen=True)
class UnmappedActor:
    """An actor string seen on the ledger that no Identity resolves to a person."""

    actor: str
    events: int
    usage_records: int
    last_seen: datetime
    first_seen: datetime | None = None
    spend_usd: Decimal = Decimal(0)
    unpriced_records: int = 0
    work_units: int = 0
    awus_completed: Decimal = Decimal(0)
    proposals: list[ActorProposal] = field(default_factory=list)


def unmapped_actors(*, since: datetime, limit: int = 200) -> list[UnmappedActor]:
    """Actors on work events and token usage since ``since`` with no Identity, busiest first.

    Bounded by ``since`` (``occurred_at``, indexed) so the page stays fast on a
    large ledger; counts and spend are over that window. The work units (those not
    superseded, triggered since ``since``) and open proposals are looked up for the
    page's actors only.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH seen AS (
                SELECT actor, count(*) AS events, 0 AS usage_records,
                       min(occurred_at) AS first_seen, max(occurred_at) AS last_seen,
                       0::numeric AS spend, 0 AS unpriced
                FROM ledger_workevent
                WHERE occurred_at >= %(since)s AND actor IS NOT NULL AND actor <> ''
                GROUP BY actor
                UNION ALL
                SELECT actor, 0, count(*), min(occurred_at), max(occurred_at),
                       COALESCE(sum(cost_usd), 0), count(*) FILTER (WHERE cost_usd IS NULL)
                FROM ledger_tokenusage
                WHERE occurred_at >= %(since)s AND actor IS NOT NULL AND actor <> ''
                GROUP BY actor
            )
            SELECT s.actor, sum(s.events)::bigint, sum(s.usage_records)::bigint,
                   max(s.last_seen), min(s.first_seen), sum(s.spend), sum(s.unpriced)::bigint
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
        rows = cursor.fetchall()
    actors = [row[0] for row in rows]
    units = actor_work.units_of(actors, since)
    proposals = proposals_open(actors)
    return [
        UnmappedActor(
            actor=actor,
            events=events,
            usage_records=usage,
            last_seen=last,
            first_seen=first,
            spend_usd=Decimal(spend or 0),
            unpriced_records=unpriced,
            work_units=units.get(actor, (0, Decimal(0)))[0],
            awus_completed=units.get(actor, (0, Decimal(0)))[1],
            proposals=proposals.get(actor, []),
        )
        for actor, events, usage, last, first, spend, unpriced in rows
    ]
