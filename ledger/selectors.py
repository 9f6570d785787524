"""Reads of the ledger: filtered, cursor-paginated listings.

Listings are newest first unless asked for ``order=oldest``. Cursors are keyset
cursors over the ingest sequence that carry their order, so a page costs one index
range scan however deep it is, and records stored meanwhile never shift pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import QueryDict

from ledger import access
from ledger.identities import persons_for_actors
from ledger.models import (
    CostAdjustment,
    Identity,
    Membership,
    Source,
    Team,
    TokenUsage,
    WorkEvent,
)
from ledger.query import (
    DEFAULT_LIMIT,
    Keyset,
    Query,
    choice,
    page_limit,
    parse_period,
    person_id,
    refs,
    text,
)
from ledger.teams import team_slugs_counted_as


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
    # The caller's team limits (ledger.access): None for every team.
    teams: frozenset[int] | None = None

    @classmethod
    def from_query(cls, query: Query) -> ListFilters:
        """The filters in ``query``; raises ``InvalidInput`` naming a bad parameter."""
        start, stop = parse_period(text(query, "from"), text(query, "to"))
        ref_values = refs(query.getlist("ref")) if isinstance(query, QueryDict) else ()
        cost_source = choice(
            text(query, "cost_source"), "cost_source", TokenUsage.CostSource.values
        )
        person = person_id(text(query, "person"))
        limit = page_limit(text(query, "limit"))
        return cls(
            source=text(query, "source"),
            type=text(query, "type"),
            actor=text(query, "actor"),
            person=person,
            team=text(query, "team"),
            start=start,
            stop=stop,
            refs=ref_values,
            provider=text(query, "provider"),
            model=text(query, "model"),
            cost_source=cost_source,
            keyset=Keyset.from_query(order=text(query, "order"), cursor=text(query, "cursor")),
            limit=limit,
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
        qs = qs.filter(_of_teams(Q(slug__in=team_slugs_counted_as(filters.team))))
    if filters.teams is not None:
        # The caller's team limits: a record of no team needs every team.
        qs = qs.filter(_of_teams(Q(pk__in=sorted(filters.teams)), unnamed=True))
    if filters.start:
        qs = qs.filter(occurred_at__gte=filters.start)
    if filters.stop:
        qs = qs.filter(occurred_at__lt=filters.stop)
    if filters.refs:
        qs = qs.filter(ref_keys__contains=list(filters.refs))
    return filters.keyset.apply(qs)


def _of_teams(teams: Q, *, unnamed: bool = False) -> Q:
    """Records of the teams ``teams`` selects: those naming one of them, and those
    naming none whose actor's person was a member of one at the record's time.
    ``unnamed``: an empty team name counts as none (as reports resolve it)."""
    team_rows = Team.objects.filter(teams)
    slugs = team_rows.values("slug")
    member_then = Membership.objects.filter(
        team__in=team_rows,
        person__identities__value=OuterRef("actor"),
        person__identities__retracted_at__isnull=True,
        valid_from__lte=OuterRef("occurred_at"),
    ).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=OuterRef("occurred_at")))
    named_none = Q(team__isnull=True) | Q(team="") if unnamed else Q(team__isnull=True)
    return Q(team__in=slugs) | (named_none & Q(Exists(member_then)))


def may_list(filters: ListFilters) -> ListFilters:
    """``filters`` checked against the caller's teams: an explicit ``team`` the
    caller may not read raises ``Forbidden`` naming it (existing or not)."""
    access.require_team(filters.teams, filters.team or None)
    return filters


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
    filters = may_list(filters)
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
    filters = may_list(filters)
    qs = _common(TokenUsage.objects.all(), filters)
    if filters.provider:
        qs = qs.filter(provider=filters.provider)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.cost_source:
        qs = qs.filter(cost_source=filters.cost_source)
    qs = qs.annotate(
        adjusted=Subquery(
            CostAdjustment.objects.filter(usage_id=OuterRef("id"))
            .values("usage_id")
            .annotate(total=Sum("delta_usd"))
            .values("total")
        )
    )
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
