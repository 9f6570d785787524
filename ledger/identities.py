"""The one place that resolves an actor string to a Person, and a person to a Team.

Records keep the actor exactly as the tool sent it; resolution happens when they
are read, so an alias mapped today also attributes yesterday's records. Identities
and memberships keep their history (ledger.directory writes them), so every
resolution can also read the directory as it was known at an earlier time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from ledger.models import Identity, Membership


def in_force(model: type[Identity] | type[Membership], known_at: datetime | None) -> QuerySet[Any]:
    """The directory rows in force now, or as they were known at ``known_at``."""
    if known_at is None:
        return model.objects.all()
    return model.history.filter(recorded_at__lte=known_at).filter(
        Q(retracted_at__isnull=True) | Q(retracted_at__gt=known_at)
    )


def in_force_sql(alias: str, known_at: str | None) -> str:
    """``in_force`` as a SQL predicate over the row ``alias`` (trusted SQL)."""
    if known_at is None:
        return f"{alias}.retracted_at IS NULL"
    return (
        f"{alias}.recorded_at <= {known_at}"
        f" AND ({alias}.retracted_at IS NULL OR {alias}.retracted_at > {known_at})"
    )


def persons_for_actors(
    actors: Iterable[str], *, known_at: datetime | None = None
) -> dict[str, int]:
    """actor -> person id, for the actors that have an identity (one query)."""
    wanted = {a for a in actors if a}
    if not wanted:
        return {}
    rows = (
        in_force(Identity, known_at)
        .filter(value__in=wanted)
        .order_by("value", "recorded_at", "id")
        .values_list("value", "person_id")
    )
    return dict(rows)  # the latest recorded wins, should two overlap


def team_at(person_id: int, at: datetime, *, known_at: datetime | None = None) -> int | None:
    """The team a person belonged to at ``at`` (the latest membership started by
    then), by the memberships in force now or as known at ``known_at``."""
    membership = (
        in_force(Membership, known_at)
        .filter(person_id=person_id, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by("-valid_from", "-id")
        .first()
    )
    return membership.team_id if membership else None


@dataclass(frozen=True)
class ResolutionSql:
    """SQL that resolves rows in bulk exactly as ``persons_for_actors`` and
    ``team_at`` do one at a time: ``join`` goes in the FROM clause, ``person_id``
    and ``team_id`` are expressions over it."""

    join: str
    person_id: str
    team_id: str


def resolution_sql(
    *,
    actor: str,
    at: str,
    named_team: str | None = None,
    alias: str = "ident",
    known_at: str | None = None,
) -> ResolutionSql:
    """Person and team of each row of a bulk query (reports resolve millions of rows).

    ``actor``, ``at`` and ``named_team`` are SQL expressions of the row: the raw
    actor string, the time to resolve the team at, and a team slug the row names
    itself (it wins over membership when not empty; an unknown slug is no team).
    ``alias`` names the identity join. ``known_at`` (a SQL expression, or None for
    now) reads identities and memberships as they were known then. Expressions are
    trusted SQL, never input.
    """
    person = f"{alias}.person_id"
    membership = (
        "(SELECT m.team_id FROM ledger_membership m"  # noqa: S608 - caller's fixed SQL
        f" WHERE m.person_id = {person} AND m.valid_from <= {at}"
        f" AND (m.valid_to IS NULL OR m.valid_to > {at}) AND {in_force_sql('m', known_at)}"
        " ORDER BY m.valid_from DESC, m.id DESC LIMIT 1)"
    )
    team = membership
    if named_team is not None:
        team = (
            f"CASE WHEN COALESCE({named_team}, '') <> ''"  # noqa: S608 - caller's fixed SQL
            f" THEN (SELECT t.id FROM ledger_team t WHERE t.slug = {named_team})"
            f" ELSE {membership} END"
        )
    if known_at is None:
        # At most one identity per value is in force (a partial unique index).
        join = (
            f"LEFT JOIN ledger_identity {alias} ON {alias}.value = {actor}"
            f" AND {alias}.retracted_at IS NULL"
        )
    else:
        join = (
            f"LEFT JOIN LATERAL (SELECT i.person_id FROM ledger_identity i"  # noqa: S608
            f" WHERE i.value = {actor} AND {in_force_sql('i', known_at)}"
            f" ORDER BY i.recorded_at DESC, i.id DESC LIMIT 1) {alias} ON true"
        )
    return ResolutionSql(join=join, person_id=person, team_id=team)
