"""Reads of the directory: people, teams, memberships and identities, as listings.

Every listing pages by id with the ledger's keyset cursors (ledger.query), newest
first unless ``order=oldest``; filters are read from the query string and a bad
one is an ``InvalidInput`` naming it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from ledger import clock
from ledger.errors import InvalidInput, NotFound
from ledger.models import Identity, Membership, Person, Team
from ledger.query import Keyset, Query, choice, page_limit, person_id, text
from ledger.selectors import Page

_BOOLEAN = {"true": True, "false": False}


def _flag(query: Query, name: str) -> bool | None:
    value = choice(text(query, name), name, _BOOLEAN)
    return None if value is None else _BOOLEAN[value]


def _paged(qs: QuerySet[Any], query: Query) -> tuple[list[Any], str | None]:
    limit = page_limit(text(query, "limit"))
    keyset = Keyset.from_query(order=text(query, "order"), cursor=text(query, "cursor"))
    rows = list(keyset.apply(qs)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, keyset.next_cursor(rows[-1].id if more else None)


def _current(qs: QuerySet[Membership]) -> QuerySet[Membership]:
    now = clock.now()
    return qs.filter(valid_from__lte=now).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now))


# --- People -------------------------------------------------------------------------------


def person_rows(people: Iterable[Person]) -> list[dict[str, Any]]:
    """Output rows for people: their current teams and identities in two queries."""
    people = list(people)
    ids = [p.pk for p in people]
    teams: dict[int, list[str]] = defaultdict(list)
    for pid, slug in (
        _current(Membership.objects.filter(person_id__in=ids))
        .order_by("-valid_from", "-id")
        .values_list("person_id", "team__slug")
    ):
        teams[pid].append(slug)
    aliases: dict[int, list[str]] = defaultdict(list)
    for pid, value in (
        Identity.objects.filter(person_id__in=ids)
        .order_by("value")
        .values_list("person_id", "value")
    ):
        aliases[pid].append(value)
    return [
        {
            "id": p.pk,
            "name": p.name,
            "email": p.email,
            "external_id": p.external_id,
            "active": p.active,
            "department": p.department,
            "cost_centre": p.cost_centre,
            "manager": p.manager_id,
            "teams": teams[p.pk],
            "identities": aliases[p.pk],
            "created_at": p.created_at,
        }
        for p in people
    ]


def people_list(*, query: Query) -> Page:
    """People filtered by ``team`` (a slug: in it now), ``active``, ``email`` and ``q``
    (a part of the name or email)."""
    qs = Person.objects.all()
    team = text(query, "team")
    if team is not None:
        qs = qs.filter(pk__in=_current(Membership.objects.filter(team__slug=team)).values("person"))
    active = _flag(query, "active")
    if active is not None:
        qs = qs.filter(active=active)
    email = text(query, "email")
    if email is not None:
        qs = qs.filter(email__iexact=email)
    q = text(query, "q")
    if q is not None:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q))
    rows, cursor = _paged(qs, query)
    return Page(rows=person_rows(rows), next_cursor=cursor)


def person_get(person_id: int) -> Person:
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        raise NotFound(f"No person with id {person_id}.")
    return person


# --- Teams --------------------------------------------------------------------------------


def team_rows(teams: Iterable[Team]) -> list[dict[str, Any]]:
    return [
        {
            "id": t.pk,
            "slug": t.slug,
            "name": t.name,
            "domain": t.domain,
            "status": t.status,
            "parent": t.parent.slug if t.parent else None,
            "cost_centre": t.cost_centre,
            "external_id": t.external_id,
            "merged_into": t.merged_into.slug if t.merged_into else None,
            "created_at": t.created_at,
        }
        for t in teams
    ]


def teams_list(*, query: Query) -> Page:
    """Teams filtered by ``parent`` (a slug), ``status`` and ``q`` (slug or name)."""
    qs = Team.objects.select_related("parent", "merged_into")
    parent = text(query, "parent")
    if parent is not None:
        qs = qs.filter(parent__slug=parent)
    status = choice(text(query, "status"), "status", Team.Status.values)
    if status is not None:
        qs = qs.filter(status=status)
    q = text(query, "q")
    if q is not None:
        qs = qs.filter(Q(slug__icontains=q) | Q(name__icontains=q))
    rows, cursor = _paged(qs, query)
    return Page(rows=team_rows(rows), next_cursor=cursor)


def team_get(team_id: int) -> Team:
    team = Team.objects.select_related("parent", "merged_into").filter(pk=team_id).first()
    if team is None:
        raise NotFound(f"No team with id {team_id}.")
    return team


# --- Memberships and identities -----------------------------------------------------------


def membership_row(m: Membership) -> dict[str, Any]:
    return {
        "id": m.pk,
        "person": m.person_id,
        "team": m.team.slug,
        "valid_from": m.valid_from,
        "valid_to": m.valid_to,
        "recorded_at": m.recorded_at,
        "retracted_at": m.retracted_at,
        "origin": m.origin,
    }


def _history(query: Query, model: type[Membership] | type[Identity]) -> QuerySet[Any]:
    include = choice(text(query, "include"), "include", ("history",))
    return model.history.all() if include else model.objects.all()


def memberships_list(*, query: Query) -> Page:
    """Memberships in force (``include=history``: retracted rows too), filtered by
    ``person``, ``team`` (a slug) and ``current`` (true: in force now; false: not)."""
    qs = _history(query, Membership).select_related("team")
    person = person_id(text(query, "person"))
    if person is not None:
        qs = qs.filter(person_id=person)
    team = text(query, "team")
    if team is not None:
        qs = qs.filter(team__slug=team)
    current = _flag(query, "current")
    if current is not None:
        now_in = _current(Membership.history.filter(retracted_at__isnull=True)).values("pk")
        qs = qs.filter(pk__in=now_in) if current else qs.exclude(pk__in=now_in)
    rows, cursor = _paged(qs, query)
    return Page(rows=[membership_row(m) for m in rows], next_cursor=cursor)


def membership_get(membership_id: int) -> Membership:
    """A membership in force; a retracted one is not found (its successor is)."""
    row = Membership.objects.select_related("team").filter(pk=membership_id).first()
    if row is None:
        retracted = Membership.history.filter(pk=membership_id).exists()
        raise NotFound(
            f"Membership {membership_id} was retracted (see include=history)."
            if retracted
            else f"No membership with id {membership_id}."
        )
    return row


def identity_row(i: Identity) -> dict[str, Any]:
    return {
        "id": i.pk,
        "value": i.value,
        "person": i.person_id,
        "recorded_at": i.recorded_at,
        "retracted_at": i.retracted_at,
        "origin": i.origin,
    }


def identities_list(*, query: Query) -> Page:
    """Identities in force (``include=history``: retracted too), by ``person``,
    ``value`` (exact) or ``q`` (a part of the value)."""
    qs = _history(query, Identity)
    person = person_id(text(query, "person"))
    if person is not None:
        qs = qs.filter(person_id=person)
    value = text(query, "value")
    if value is not None:
        qs = qs.filter(value=value)
    q = text(query, "q")
    if q is not None:
        qs = qs.filter(value__icontains=q)
    rows, cursor = _paged(qs, query)
    return Page(rows=[identity_row(i) for i in rows], next_cursor=cursor)


def identity_get(identity_id: int) -> Identity:
    row = Identity.objects.filter(pk=identity_id).first()
    if row is None:
        raise NotFound(f"No identity in force with id {identity_id}.")
    return row


def referenced(model: type[Person] | type[Team], field: str, key: Any) -> Any:
    """The row a body names (a person id, a team slug), or a 400 naming ``field``."""
    if key is None:
        return None
    lookup = {"pk": key} if model is Person else {"slug": key}
    row = model.objects.filter(**lookup).first()
    if row is None:
        label = f"id {key}" if model is Person else f"slug {key!r}"
        raise InvalidInput(
            "The request is not valid.", {field: [f"no {model._meta.verbose_name} with {label}"]}
        )
    return row
