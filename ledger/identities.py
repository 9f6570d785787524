"""The one place that resolves an actor string to a Person, and a person to a Team.

Records keep the actor exactly as the tool sent it; resolution happens when they
are read, so an alias mapped today also attributes yesterday's records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from ledger import audit
from ledger.models import Identity, Membership, Person


def persons_for_actors(actors: Iterable[str]) -> dict[str, int]:
    """actor -> person id, for the actors that have an identity (one query)."""
    wanted = {a for a in actors if a}
    if not wanted:
        return {}
    return dict(Identity.objects.filter(value__in=wanted).values_list("value", "person_id"))


def team_at(person_id: int, at: datetime) -> int | None:
    """The team a person belonged to at ``at`` (the latest membership started by then)."""
    membership = (
        Membership.objects.filter(person_id=person_id, valid_from__lte=at)
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
    *, actor: str, at: str, named_team: str | None = None, alias: str = "ident"
) -> ResolutionSql:
    """Person and team of each row of a bulk query (reports resolve millions of rows).

    ``actor``, ``at`` and ``named_team`` are SQL expressions of the row: the raw
    actor string, the time to resolve the team at, and a team slug the row names
    itself (it wins over membership when not empty; an unknown slug is no team).
    ``alias`` names the identity join. Expressions are trusted SQL, never input.
    """
    person = f"{alias}.person_id"
    membership = (
        "(SELECT m.team_id FROM ledger_membership m"  # noqa: S608 - caller's fixed SQL
        f" WHERE m.person_id = {person} AND m.valid_from <= {at}"
        f" AND (m.valid_to IS NULL OR m.valid_to > {at})"
        " ORDER BY m.valid_from DESC, m.id DESC LIMIT 1)"
    )
    team = membership
    if named_team is not None:
        team = (
            f"CASE WHEN COALESCE({named_team}, '') <> ''"  # noqa: S608 - caller's fixed SQL
            f" THEN (SELECT t.id FROM ledger_team t WHERE t.slug = {named_team})"
            f" ELSE {membership} END"
        )
    return ResolutionSql(
        join=f"LEFT JOIN ledger_identity {alias} ON {alias}.value = {actor}",
        person_id=person,
        team_id=team,
    )


def identity_map(*, value: str, person: Person, reason: str = "") -> Identity:
    """Map an alias to a person (the admin's one-click mapping). Idempotent; audited
    when it changes anything."""
    with transaction.atomic():
        was = Identity.objects.select_for_update().filter(value=value).first()
        before = None if was is None else {"person": was.person_id}
        identity, _ = Identity.objects.update_or_create(value=value, defaults={"person": person})
        if before != {"person": person.pk}:
            audit.record(
                "identity.mapped",
                obj=identity,
                before=before,
                after={"value": value, "person": person.pk, "person_name": str(person)},
                reason=reason,
            )
    return identity


def identity_unmap(*, identity: Identity, reason: str = "") -> None:
    """Remove an alias: records that name it resolve to no person from now on. Audited."""
    with transaction.atomic():
        audit.record(
            "identity.unmapped",
            obj=identity,
            before={"value": identity.value, "person": identity.person_id},
            reason=reason,
        )
        identity.delete()
