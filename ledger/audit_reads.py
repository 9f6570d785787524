"""Reads of the audit trail: the filtered, cursor-paginated listing and the JSON-lines export.

The listing pages like every listing by id (ledger.query.Keyset: newest first,
``order=oldest`` in the order recorded). The export streams rows oldest first in
batches, so a SIEM can take a day or a year of them without the process holding
them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from ledger.models import AuditEvent
from ledger.query import DEFAULT_LIMIT, Keyset, Query, choice, page_limit, parse_period, text
from ledger.selectors import Page


@dataclass(frozen=True)
class AuditFilters:
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    actor: str | None = None
    actor_kind: str | None = None
    start: datetime | None = None
    stop: datetime | None = None
    keyset: Keyset = field(default_factory=Keyset)
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_query(cls, query: Query) -> AuditFilters:
        """The filters in ``query``; raises ``InvalidInput`` naming a bad parameter."""
        start, stop = parse_period(text(query, "from"), text(query, "to"))
        return cls(
            object_type=text(query, "object_type"),
            object_id=text(query, "object_id"),
            action=text(query, "action"),
            actor=text(query, "actor"),
            actor_kind=choice(text(query, "actor_kind"), "actor_kind", AuditEvent.ActorKind.values),
            start=start,
            stop=stop,
            keyset=Keyset.from_query(order=text(query, "order"), cursor=text(query, "cursor")),
            limit=page_limit(text(query, "limit")),
        )


def _filtered(filters: AuditFilters) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all()
    for name in ("object_type", "object_id", "action", "actor", "actor_kind"):
        value = getattr(filters, name)
        if value is not None:
            qs = qs.filter(**{name: value})
    if filters.start is not None:
        qs = qs.filter(at__gte=filters.start)
    if filters.stop is not None:
        qs = qs.filter(at__lt=filters.stop)
    return qs


def audit_event_row(event: AuditEvent) -> dict[str, Any]:
    """One audit event as the API, the CSV and the export show it."""
    return {
        "id": event.id,
        "at": event.at,
        "actor_kind": event.actor_kind,
        "actor": event.actor,
        "actor_id": event.actor_id or None,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id or None,
        "object_label": event.object_label,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
    }


def audit_events_list(*, filters: AuditFilters) -> Page:
    rows = list(filters.keyset.apply(_filtered(filters))[: filters.limit + 1])
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return Page(
        rows=[audit_event_row(e) for e in rows],
        next_cursor=filters.keyset.next_cursor(rows[-1].id if more else None),
    )


def audit_events_export(
    *, start: datetime | None, stop: datetime | None, batch_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every audit event recorded in ``[start, stop)``, oldest first, one batch at a time."""
    qs = _filtered(AuditFilters(start=start, stop=stop)).order_by("id")
    last = 0
    while True:
        batch = list(qs.filter(id__gt=last)[:batch_size])
        yield from (audit_event_row(e) for e in batch)
        if len(batch) < batch_size:
            return
        last = batch[-1].id
