"""The one place that resolves an actor string to a Person, and a person to a Team.

Records keep the actor exactly as the tool sent it; resolution happens when they
are read, so an alias mapped today also attributes yesterday's records.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from ledger.models import Identity, Membership, Person, Team


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
        .order_by("-valid_from")
        .first()
    )
    return membership.team_id if membership else None


def identity_map(*, value: str, person: Person) -> Identity:
    """Map an alias to a person (the admin's one-click mapping). Idempotent."""
    identity, _ = Identity.objects.update_or_create(value=value, defaults={"person": person})
    return identity


def team_by_slug(slug: str) -> Team | None:
    return Team.objects.filter(slug=slug).first()
