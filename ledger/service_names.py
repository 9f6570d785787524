"""Service names: what each source calls a service, resolved when events are read.

An event's service is its ``service`` attribute; where its source maps its
``service_id`` or ``service`` to another name (ServiceName), that name. Events
whose sources name a service the same way link with no mapping at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from ledger import outbox
from ledger.models import ServiceName, Source

# (source id, name as the source sends it) -> the service as deploys name it
ServiceMap = dict[tuple[int, str], str]

# Only these event types are read by service (deploy-window attribution).
SERVICE_EVENT_TYPES = ("deploy.succeeded", "incident.opened")


def raw_names(attributes: Mapping[str, Any]) -> tuple[str, ...]:
    """The names an event gives its service, the most specific first."""
    return tuple(
        value
        for key in ("service_id", "service")
        if isinstance(value := attributes.get(key), str) and value
    )


@dataclass(frozen=True)
class ServiceNames:
    """Every mapping, both ways; read once per scoring pass (the table is small)."""

    by_source_name: ServiceMap

    def resolve(self, source_id: int, attributes: Mapping[str, Any]) -> str | None:
        """The event's service: a mapped name of it, else its ``service`` attribute."""
        if self.by_source_name:
            for name in raw_names(attributes):
                mapped = self.by_source_name.get((source_id, name))
                if mapped is not None:
                    return mapped
        service = attributes.get("service")
        return service if isinstance(service, str) and service else None

    def names_of(self, services: Iterable[str]) -> dict[str, set[str]]:
        """Every raw name that may resolve to each service: itself and what maps to it."""
        out = {s: {s} for s in services}
        for (_, external), service in self.by_source_name.items():
            if service in out:
                out[service].add(external)
        return out


def load_service_names() -> ServiceNames:
    rows = ServiceName.objects.values_list("source_id", "external_name", "service")
    return ServiceNames({(s, n): service for s, n, service in rows})


def service_name_create(*, source: Source, external_name: str, service: str) -> ServiceName:
    """Map ``external_name`` of ``source`` to ``service``, or change the mapping.

    The events of that source naming it (deploys and incidents) are queued to be
    scored again in the same transaction, so units already scored see the mapping.
    """
    with transaction.atomic():
        mapping, _ = ServiceName.objects.update_or_create(
            source=source, external_name=external_name, defaults={"service": service}
        )
        service_events_rescore(source_id=source.pk, external_name=external_name)
    return mapping


def service_events_rescore(*, source_id: int, external_name: str) -> None:
    """Queue the source's deploys and incidents naming ``external_name`` for scoring
    (in the caller's transaction): a mapping changes which units they touch."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ledger_eventoutbox (event_ids, created_at)
            SELECT array_agg(id ORDER BY id), now()
            FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / 1000 AS chunk
                  FROM ledger_workevent
                  WHERE source_id = %s AND type = ANY(%s)
                    AND (attributes->>'service' = %s OR attributes->>'service_id' = %s)) found
            GROUP BY chunk
            """,
            [source_id, list(SERVICE_EVENT_TYPES), external_name, external_name],
        )
    outbox.wake_after_commit()
