"""Reads over the ledger that the integrations define the meaning of.

* ``spend_counted_usage``: the token usage that counts as spend once Claude Code's
  logs and metrics (which describe the same requests) are both stored.
* ``unmapped_actors``: actors seen on events and usage that no Identity maps yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from ledger.models import TokenUsage


def spend_counted_condition(alias: str = "ledger_tokenusage") -> str:
    """SQL boolean: the ``ledger_tokenusage`` row named ``alias`` counts as spend.

    The rule of ``otlp_metrics.counts_as_spend``, in SQL, applied when reading so
    the answer does not depend on whether logs or metrics arrived first:

    * a row not derived from metrics (``attributes.derived_from`` other than
      ``"metrics"``: log events, API posts, usage reports) counts;
    * a metrics-derived row with ``refs.session`` counts only when no log-derived
      row (``derived_from = "logs"``) from the same source shares one of its sessions;
    * a metrics-derived row without a session counts only when its source has no
      log-derived usage at all.

    The session match goes through the ``ref_keys`` GIN index. ``alias`` must be a
    plain SQL identifier (a table name or alias in the caller's query).
    """
    if not alias.replace("_", "").isalnum():
        raise ValueError(f"not an SQL identifier: {alias!r}")
    t = alias
    return f"""NOT (
        COALESCE({t}.attributes->>'derived_from', '') = 'metrics'
        AND EXISTS (
            SELECT 1 FROM ledger_tokenusage logs_usage
            WHERE logs_usage.source_id = {t}.source_id
              AND logs_usage.attributes->>'derived_from' = 'logs'
              AND CASE
                  WHEN jsonb_typeof({t}.refs->'session') = 'array'
                       AND jsonb_array_length({t}.refs->'session') > 0
                  THEN logs_usage.ref_keys && ARRAY(
                      SELECT 'session:' || s FROM jsonb_array_elements_text({t}.refs->'session') s
                  )::varchar[]
                  ELSE TRUE
              END
        )
    )"""  # noqa: S608 - alias is checked above; no user input reaches the text


def spend_counted_usage(
    queryset: QuerySet[TokenUsage] | None = None,
) -> QuerySet[TokenUsage]:
    """``queryset`` (default: all token usage) without the rows that do not count as spend.

    Removes metrics-derived rows already covered by log-derived rows of the same
    source (see ``spend_counted_condition``). Chain filters and aggregates on the
    result as on any TokenUsage queryset; the condition refers to the table by its
    name, so use ``spend_counted_condition(alias)`` in hand-written SQL that aliases it.
    """
    base = TokenUsage.objects.all() if queryset is None else queryset
    condition = RawSQL(spend_counted_condition(), [], output_field=BooleanField())  # noqa: S611 - constant SQL
    return base.filter(condition)


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
            WHERE NOT EXISTS (SELECT 1 FROM ledger_identity i WHERE i.value = s.actor)
            GROUP BY s.actor
            ORDER BY sum(s.events) + sum(s.usage_records) DESC, s.actor
            LIMIT %(limit)s
            """,
            {"since": since, "limit": limit},
        )
        return [UnmappedActor(*row) for row in cursor.fetchall()]
