"""Reads of the ledger: filtered, cursor-paginated listings.

Cursors are keyset cursors over the ingest sequence, so a page costs one index
range scan however deep it is, and records stored meanwhile never shift pages.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.http import QueryDict

from ledger.http import ApiError
from ledger.identities import persons_for_actors
from ledger.models import Identity, Membership, Source, TokenUsage, WorkEvent
from ledger.periods import PeriodError, parse_period

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


def _invalid(field_name: str, reason: str) -> ApiError:
    return ApiError(
        400, "validation_error", "A query parameter is not valid.", {field_name: [reason]}
    )


def encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"s:{sequence}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "s":
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid("cursor", "not a cursor this API returned") from exc


@dataclass(frozen=True)
class ListFilters:
    source: str | None = None
    type: str | None = None
    actor: str | None = None
    person: int | None = None
    team: str | None = None
    start: datetime | None = None
    stop: datetime | None = None
    refs: tuple[str, ...] = ()
    provider: str | None = None
    model: str | None = None
    cost_source: str | None = None
    after: int | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_query(cls, query: QueryDict | Mapping[str, Any]) -> ListFilters:
        def one(name: str) -> str | None:
            value = query.get(name)
            if value is None or value == "":
                return None
            if "\x00" in value or len(value) > 500:
                raise _invalid(name, "not a valid value")
            return str(value)

        try:
            start, stop = parse_period(one("from"), one("to"))
        except PeriodError as exc:
            raise _invalid(exc.field, exc.reason) from exc
        person = one("person")
        limit = one("limit")
        refs = tuple(query.getlist("ref")) if isinstance(query, QueryDict) else ()
        for ref in refs:
            if ":" not in ref or len(ref) > 300 or "\x00" in ref:
                raise _invalid("ref", "give a ref as kind:value, e.g. commit:9f1c2e7")
        cursor = one("cursor")
        cost_source = one("cost_source")
        if cost_source and cost_source not in TokenUsage.CostSource.values:
            raise _invalid("cost_source", "one of reported, computed, unpriced")
        try:
            person_id = int(person) if person else None
            page_size = int(limit) if limit else DEFAULT_LIMIT
        except ValueError as exc:
            raise _invalid(
                "person" if person and not person.isdigit() else "limit", "not an integer"
            ) from exc
        if not 1 <= page_size <= MAX_LIMIT:
            raise _invalid("limit", f"between 1 and {MAX_LIMIT}")
        if person_id is not None and not 0 < person_id < 2**63:
            raise _invalid("person", "not a person id")
        return cls(
            source=one("source"),
            type=one("type"),
            actor=one("actor"),
            person=person_id,
            team=one("team"),
            start=start,
            stop=stop,
            refs=refs,
            provider=one("provider"),
            model=one("model"),
            cost_source=cost_source,
            after=decode_cursor(cursor) if cursor else None,
            limit=page_size,
        )


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_after: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, request: Any = None) -> dict[str, Any]:
        return {
            "results": self.rows,
            "next_cursor": encode_cursor(self.next_after) if self.next_after is not None else None,
            **self.extra,
        }


def _common(qs: QuerySet[Any], filters: ListFilters) -> QuerySet[Any]:
    if filters.source:
        kind, _, slug = filters.source.rpartition(":")
        qs = qs.filter(source__slug=slug, **({"source__kind": kind} if kind else {}))
    if filters.actor:
        qs = qs.filter(actor=filters.actor)
    if filters.person is not None:
        qs = qs.filter(actor__in=Identity.objects.filter(person_id=filters.person).values("value"))
    if filters.team:
        member_then = Membership.objects.filter(
            team__slug=filters.team,
            person__identities__value=OuterRef("actor"),
            valid_from__lte=OuterRef("occurred_at"),
        ).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=OuterRef("occurred_at")))
        qs = qs.filter(Q(team=filters.team) | Q(team__isnull=True) & Exists(member_then))
    if filters.start:
        qs = qs.filter(occurred_at__gte=filters.start)
    if filters.stop:
        qs = qs.filter(occurred_at__lt=filters.stop)
    if filters.refs:
        qs = qs.filter(ref_keys__contains=list(filters.refs))
    if filters.after is not None:
        qs = qs.filter(id__gt=filters.after)
    return qs.order_by("id")


def _page(rows: list[Any], filters: ListFilters) -> tuple[list[Any], int | None]:
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return rows, (rows[-1].id if more else None)


def _source_names(ids: Iterable[int]) -> dict[int, str]:
    return {
        s.pk: (s.slug if s.kind == "api" else f"{s.kind}:{s.slug}")
        for s in Source.objects.filter(pk__in=set(ids))
    }


def events_list(*, filters: ListFilters) -> Page:
    qs = _common(WorkEvent.objects.all(), filters)
    if filters.type:
        qs = qs.filter(type=filters.type)
    rows, next_after = _page(list(qs[: filters.limit + 1]), filters)
    names = _source_names(r.source_id for r in rows)
    persons = persons_for_actors({r.actor for r in rows if r.actor})
    return Page(
        rows=[
            {
                "sequence": e.id,
                "source": names[e.source_id],
                "id": e.external_id,
                "type": e.type,
                "occurred_at": e.occurred_at,
                "received_at": e.received_at,
                "actor": e.actor,
                "person": persons.get(e.actor) if e.actor else None,
                "team": e.team,
                "subject": e.subject,
                "refs": e.refs,
                "ai": e.ai,
                "attributes": e.attributes,
            }
            for e in rows
        ],
        next_after=next_after,
    )


def usage_list(*, filters: ListFilters) -> Page:
    qs = _common(TokenUsage.objects.all(), filters)
    if filters.provider:
        qs = qs.filter(provider=filters.provider)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.cost_source:
        qs = qs.filter(cost_source=filters.cost_source)
    qs = qs.annotate(adjusted=Sum("adjustments__delta_usd"))
    rows, next_after = _page(list(qs[: filters.limit + 1]), filters)
    names = _source_names(r.source_id for r in rows)
    persons = persons_for_actors({r.actor for r in rows if r.actor})
    return Page(
        rows=[
            {
                "sequence": u.id,
                "source": names[u.source_id],
                "id": u.external_id,
                "occurred_at": u.occurred_at,
                "period_end": u.period_end,
                "received_at": u.received_at,
                "actor": u.actor,
                "person": persons.get(u.actor) if u.actor else None,
                "team": u.team,
                "provider": u.provider,
                "model": u.model,
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "cache_creation_input_tokens": u.cache_creation_input_tokens,
                "cache_creation_1h_input_tokens": u.cache_creation_1h_input_tokens,
                "cache_read_input_tokens": u.cache_read_input_tokens,
                "cost_usd": u.cost_usd,
                "adjusted_cost_usd": (
                    (u.cost_usd or Decimal(0)) + u.adjusted
                    if u.adjusted is not None
                    else u.cost_usd
                ),
                "cost_source": u.cost_source,
                "price_id": u.price_id,
                "refs": u.refs,
                "attributes": u.attributes,
            }
            for u in rows
        ],
        next_after=next_after,
    )
