"""Reads of the ledger: filtered, cursor-paginated listings.

Listings are newest first unless asked for ``order=oldest``. Cursors are keyset
cursors over the ingest sequence that carry their order, so a page costs one index
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
from ledger.teams import team_slugs_counted_as

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
ORDERS = ("newest", "oldest")


def _invalid(field_name: str, reason: str) -> ApiError:
    return ApiError(
        400, "validation_error", "A query parameter is not valid.", {field_name: [reason]}
    )


# A cursor is "<n|o>:<last id shown>": newest first or oldest first. Cursors made
# when every listing was oldest first read "s:<id>" and still page that way.
_CURSOR_ORDERS = {"n": "newest", "o": "oldest", "s": "oldest"}


def encode_cursor(*, order: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{order[0]}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(order, last id shown) of a cursor this API returned; a 400 on anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind not in _CURSOR_ORDERS or not value.isdigit():
            raise ValueError(kind)
        return _CURSOR_ORDERS[kind], int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid("cursor", "not a cursor this API returned") from exc


@dataclass(frozen=True)
class Keyset:
    """Where a page of a listing by id starts: its order and the last id shown before."""

    order: str = "newest"
    after: int | None = None

    @classmethod
    def from_query(cls, *, order: str | None, cursor: str | None) -> Keyset:
        """From the ``order`` and ``cursor`` parameters; a 400 naming the bad one.

        A cursor carries the order it was made for: ``order`` may repeat it or be
        left out, but may not contradict it (the pages would skip or repeat rows).
        """
        if order is not None and order not in ORDERS:
            raise _invalid("order", f"one of {', '.join(ORDERS)}")
        if cursor is None:
            return cls(order=order or "newest")
        cursor_order, after = decode_cursor(cursor)
        if order is not None and order != cursor_order:
            raise _invalid(
                "order",
                f"the cursor pages {cursor_order} first: give order={cursor_order} or leave it out",
            )
        return cls(order=cursor_order, after=after)

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if self.order == "oldest":
            qs = qs if self.after is None else qs.filter(id__gt=self.after)
            return qs.order_by("id")
        qs = qs if self.after is None else qs.filter(id__lt=self.after)
        return qs.order_by("-id")

    def next_cursor(self, last_id: int | None) -> str | None:
        """The cursor of the page after the one whose last row is ``last_id``."""
        return None if last_id is None else encode_cursor(order=self.order, last_id=last_id)


def parse_refs(values: Iterable[str]) -> tuple[str, ...]:
    """``ref`` parameters (kind:value, all must match); a 400 on a malformed one."""
    refs = tuple(values)
    for ref in refs:
        if ":" not in ref or len(ref) > 300 or "\x00" in ref:
            raise _invalid("ref", "give a ref as kind:value, e.g. commit:9f1c2e7")
    return refs


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
    keyset: Keyset = field(default_factory=Keyset)
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
        refs = parse_refs(query.getlist("ref")) if isinstance(query, QueryDict) else ()
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
            keyset=Keyset.from_query(order=one("order"), cursor=one("cursor")),
            limit=page_size,
        )


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, request: Any = None) -> dict[str, Any]:
        return {"results": self.rows, "next_cursor": self.next_cursor, **self.extra}


def _common(qs: QuerySet[Any], filters: ListFilters) -> QuerySet[Any]:
    if filters.source:
        kind, _, slug = filters.source.rpartition(":")
        qs = qs.filter(source__slug=slug, **({"source__kind": kind} if kind else {}))
    if filters.actor:
        qs = qs.filter(actor=filters.actor)
    if filters.person is not None:
        qs = qs.filter(actor__in=Identity.objects.filter(person_id=filters.person).values("value"))
    if filters.team:
        # The team's own slug and those of the teams merged into it.
        slugs = team_slugs_counted_as(filters.team)
        member_then = Membership.objects.filter(
            team__slug__in=slugs,
            person__identities__value=OuterRef("actor"),
            valid_from__lte=OuterRef("occurred_at"),
        ).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=OuterRef("occurred_at")))
        qs = qs.filter(Q(team__in=slugs) | Q(team__isnull=True) & Exists(member_then))
    if filters.start:
        qs = qs.filter(occurred_at__gte=filters.start)
    if filters.stop:
        qs = qs.filter(occurred_at__lt=filters.stop)
    if filters.refs:
        qs = qs.filter(ref_keys__contains=list(filters.refs))
    return filters.keyset.apply(qs)


def _page(rows: list[Any], filters: ListFilters) -> tuple[list[Any], str | None]:
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    return rows, filters.keyset.next_cursor(rows[-1].id if more else None)


def _source_names(ids: Iterable[int]) -> dict[int, str]:
    return {
        s.pk: (s.slug if s.kind == "api" else f"{s.kind}:{s.slug}")
        for s in Source.objects.filter(pk__in=set(ids))
    }


def events_list(*, filters: ListFilters) -> Page:
    qs = _common(WorkEvent.objects.all(), filters)
    if filters.type:
        qs = qs.filter(type=filters.type)
    rows, next_cursor = _page(list(qs[: filters.limit + 1]), filters)
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
        next_cursor=next_cursor,
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
    rows, next_cursor = _page(list(qs[: filters.limit + 1]), filters)
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
        next_cursor=next_cursor,
    )
