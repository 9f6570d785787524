"""Every write to identities and memberships: the directory's history is kept.

A row in force is never edited. A change retracts it (``retracted_at``, set once)
and records its successor, in one transaction, so reports read the directory as
it is now or as it was known at any earlier time (ledger.identities). The table
triggers refuse any other change (migration 0008). Whoever writes (the admin, the
directory API, SCIM provisioning, a CSV import) goes through these functions, and
each change they make is in the audit trail (ledger.audit), in its transaction.

Membership dates follow what a directory knows: a membership pushed now starts
now, except a person's first one, which reaches back to the beginning (when a
company connects its directory there is no earlier truth, and a person's past
work must not land in no team). An explicit ``valid_from`` always wins.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Q

from ledger import audit, clock, teams
from ledger.errors import Conflict, InvalidInput
from ledger.models import Identity, Membership, Person, Team, Versioned

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)

Origin = Versioned.Origin


def _retract(row: Versioned, at: datetime) -> None:
    type(row).history.filter(pk=row.pk, retracted_at__isnull=True).update(retracted_at=at)
    row.retracted_at = at


def _successor(row: Versioned, *, at: datetime, origin: str, **changes: Any) -> Any:
    """Retract ``row`` and record a copy of it with ``changes``."""
    _retract(row, at)
    fields = {
        f.attname: getattr(row, f.attname)
        for f in row._meta.concrete_fields
        if f.attname not in {"id", "recorded_at", "retracted_at", "origin", "created_at"}
    }
    for name, value in changes.items():
        field = row._meta.get_field(name)
        assert isinstance(field, models.Field), name
        fields[field.attname] = (
            value.pk if isinstance(value, models.Model) else value
        )  # team -> team_id
    return type(row).objects.create(**fields, recorded_at=at, origin=origin)


def _values(row: Identity | Membership) -> dict[str, Any]:
    if isinstance(row, Identity):
        return {"value": row.value, "person": row.person_id, "origin": row.origin}
    return {
        "origin": row.origin,
        "person": row.person_id,
        "team": row.team.slug,
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
    }


def _audit(action: str, row: Any, *, before: Any = None, after: Any = None) -> None:
    audit.record(
        action,
        obj=row,
        before=_values(before) if before is not None else None,
        after=_values(after) if after is not None else None,
    )


# Identities


@transaction.atomic
def identity_map(*, value: str, person: Person, origin: str = Origin.ADMIN) -> Identity:
    """Map an alias to a person. Idempotent; a remap keeps the earlier mapping as history."""
    current = Identity.objects.select_for_update().filter(value=value).first()
    if current is not None and current.person_id == person.pk:
        return current
    at = clock.now()
    if current is not None:
        _retract(current, at)
    row = Identity.objects.create(value=value, person=person, recorded_at=at, origin=origin)
    _audit("identity.mapped", row, before=current, after=row)
    return row


@transaction.atomic
def identity_unmap(*, value: str, origin: str = Origin.ADMIN) -> bool:
    """Retract the alias's mapping; answers whether there was one."""
    current = Identity.objects.select_for_update().filter(value=value).first()
    if current is None:
        return False
    _retract(current, clock.now())
    current.origin = origin
    _audit("identity.unmapped", current, before=current)
    return True


def identity_claim(
    *, value: str, person: Person, remap: bool = False, origin: str = Origin.ADMIN
) -> tuple[Identity, bool]:
    """Map an alias to a person unless it is mapped to someone else (then Conflict,
    naming that person, unless ``remap``). Answers the row and whether it is new."""
    with transaction.atomic():
        current = Identity.objects.select_for_update().filter(value=value).first()
        if current is not None and current.person_id == person.pk:
            return current, False
        if current is not None and not remap:
            raise Conflict(
                f"{value!r} is mapped to another person; remap it explicitly to move it.",
                {"value": [f"already mapped to person {current.person_id}"]},
                existing=current.person_id,
            )
        return identity_map(value=value, person=person, origin=origin), True


# Memberships


def _open(person: Person, team: Team | None = None) -> Any:
    qs = Membership.objects.select_for_update().filter(person=person, valid_to__isnull=True)
    return qs.filter(team=team) if team is not None else qs


@transaction.atomic
def membership_start(
    *,
    person: Person,
    team: Team,
    valid_from: datetime | None = None,
    origin: str = Origin.ADMIN,
) -> Membership:
    """Start a membership; answers the open one if the person is already in ``team``."""
    Person.objects.select_for_update().filter(pk=person.pk).first()  # one writer per person
    existing = _open(person, team).order_by("valid_from").first()
    if existing is not None:
        return existing
    at = clock.now()
    if valid_from is None:
        first = not Membership.history.filter(person=person).exists()
        valid_from = BEGINNING if first else at
    row = Membership.objects.create(
        person=person, team=team, valid_from=valid_from, recorded_at=at, origin=origin
    )
    _audit("membership.started", row, after=row)
    return row


@transaction.atomic
def membership_add(
    *,
    person: Person,
    team: Team,
    valid_from: datetime,
    valid_to: datetime,
    origin: str = Origin.ADMIN,
) -> Membership:
    """Record a membership that has already ended (a past move an HR export knows)."""
    if valid_to <= valid_from:
        raise InvalidInput(
            "The membership is not valid.", {"valid_to": ["must be after valid_from"]}
        )
    row = Membership.objects.create(
        person=person,
        team=team,
        valid_from=valid_from,
        valid_to=valid_to,
        recorded_at=clock.now(),
        origin=origin,
    )
    _audit("membership.started", row, after=row)
    return row


@transaction.atomic
def membership_end(
    membership: Membership, *, at: datetime | None = None, origin: str = Origin.ADMIN
) -> Membership | None:
    """End a membership at ``at`` (default now). Answers the ended row, or None when
    it ended before it began (then it never was: it is retracted)."""
    now = clock.now()
    until = at or now
    if membership.valid_to is not None and membership.valid_to <= until:
        return membership
    if until <= membership.valid_from:
        _retract(membership, now)
        _audit("membership.removed", membership, before=membership)
        return None
    ended: Membership = _successor(membership, at=now, origin=origin, valid_to=until)
    _audit("membership.ended", ended, before=membership, after=ended)
    return ended


def memberships_end(
    *, person: Person, team: Team | None = None, at: datetime | None = None, origin: str
) -> int:
    """End the person's open memberships (in ``team``, or all); answers how many."""
    with transaction.atomic():
        rows = list(_open(person, team))
        for row in rows:
            membership_end(row, at=at, origin=origin)
    return len(rows)


@transaction.atomic
def person_set_active(
    *, person: Person, active: bool, at: datetime | None = None, origin: str = Origin.ADMIN
) -> Person:
    """Deactivate (ends every membership, keeps the past work) or reactivate a person."""
    if not active:
        memberships_end(person=person, at=at, origin=origin)
    if person.active != active:
        Person.objects.filter(pk=person.pk).update(active=active)
        person.active = active
        audit.record(
            "person.reactivated" if active else "person.deactivated",
            obj=person,
            before={"active": not active},
            after={"active": active, "origin": origin},
        )
    return person


def teams_of(person: Person, *, at: datetime | None = None) -> list[Team]:
    """The teams a person is in at ``at`` (default now), latest joined first."""
    when = at or clock.now()
    return [
        m.team
        for m in Membership.objects.filter(person=person, valid_from__lte=when)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when))
        .select_related("team")
        .order_by("-valid_from", "-id")
    ]


@transaction.atomic
def add(row: Identity | Membership) -> None:
    """Record a row the admin made in full (a membership with both dates, say)."""
    row.origin = Origin.ADMIN
    row.recorded_at = clock.now()
    row.save()
    _audit(f"{row._meta.model_name}.{_STARTED[type(row)]}", row, after=row)


_STARTED = {Identity: "mapped", Membership: "started"}
_RETRACTED = {Identity: "unmapped", Membership: "removed"}


@transaction.atomic
def revise(row: Any, *, origin: str = Origin.ADMIN, **changes: Any) -> Any:
    """Correct an identity or a membership (e.g. a membership's team or dates): the
    old row stays as history."""
    revised = _successor(row, at=clock.now(), origin=origin, **changes)
    if isinstance(row, Identity):
        action = "identity.mapped"
    elif row.valid_to is None and revised.valid_to is not None:
        action = "membership.ended"
    else:
        action = "membership.changed"
    _audit(action, revised, before=row, after=revised)
    return revised


def retract(row: Identity | Membership, *, origin: str = Origin.ADMIN) -> None:
    """Withdraw a row recorded in error (the admin's delete): kept as history."""
    with transaction.atomic():
        _retract(row, clock.now())
        row.origin = origin
        _audit(f"{row._meta.model_name}.{_RETRACTED[type(row)]}", row, before=row)


# People and teams (plain rows: their history is not kept, only their memberships')

_PERSON_FIELDS = ("name", "email", "external_id", "department", "cost_centre", "manager")
_TEAM_FIELDS = ("name", "domain", "parent", "cost_centre", "external_id")


def _unique(model: type[Person] | type[Team], field: str, value: Any, pk: int | None) -> None:
    if value in (None, ""):
        return
    # The same address in another case is the same person.
    lookup = f"{field}__iexact" if field == "email" else field
    clash = model.objects.filter(**{lookup: value})
    if pk is not None:
        clash = clash.exclude(pk=pk)
    existing = clash.values_list("pk", flat=True).first()
    if existing is not None:
        label = model._meta.verbose_name
        raise Conflict(
            f"Another {label} has this {field}.",
            {field: [f"already used by {label} {existing}"]},
            existing=existing,
        )


def _check_manager(person: Person | None, manager: Person | None) -> None:
    seen = set() if person is None else {person.pk}
    while manager is not None and len(seen) < 10_000:
        if manager.pk in seen:
            raise InvalidInput(
                "The person is not valid.", {"manager": ["would make a management cycle"]}
            )
        seen.add(manager.pk)
        manager = manager.manager


def _check_parent(team: Team | None, parent: Team | None) -> None:
    chain: list[str] = [] if team is None else [team.slug]
    while parent is not None and len(chain) < 1000:  # bounded: a tree is never that deep
        chain.append(parent.slug)
        if team is not None and parent.pk == team.pk:
            raise InvalidInput(
                "The team is not valid.",
                {"parent": [f"would make a cycle: {' > '.join(reversed(chain))}"]},
            )
        parent = parent.parent


@transaction.atomic
def person_create(*, origin: str = Origin.ADMIN, active: bool = True, **fields: Any) -> Person:
    """A new person; their email, when given, also becomes an identity. Conflict on
    an email or external id in use (or an email alias mapped to someone else)."""
    _unique(Person, "email", fields.get("email"), None)
    _unique(Person, "external_id", fields.get("external_id"), None)
    _check_manager(None, fields.get("manager"))
    person = Person.objects.create(active=active, **fields)
    audit.record("person.created", obj=person, after={**fields, "origin": origin})
    if person.email:
        identity_claim(value=person.email, person=person, origin=origin)
    return person


@transaction.atomic
def person_update(*, person: Person, origin: str = Origin.ADMIN, **changes: Any) -> Person:
    """Change a person's fields (``_PERSON_FIELDS``) and ``active``. A new email also
    becomes an identity (the old one stays: past records carry it); deactivation
    ends every membership (``person_set_active``)."""
    person = Person.objects.select_for_update().get(pk=person.pk)
    unknown = set(changes) - {*_PERSON_FIELDS, "active"}
    assert not unknown, unknown
    for field in ("email", "external_id"):
        if field in changes:
            _unique(Person, field, changes[field], person.pk)
    if "manager" in changes:
        _check_manager(person, changes["manager"])
    active = changes.pop("active", None)
    before = {name: getattr(person, name) for name in changes}
    for name, value in changes.items():
        setattr(person, name, value)
    if changes:
        person.save(update_fields=list(changes))
        audit.record(
            "person.changed", obj=person, before=before, after={**changes, "origin": origin}
        )
    if changes.get("email"):
        identity_claim(value=changes["email"], person=person, origin=origin)
    if active is not None:
        person_set_active(person=person, active=active, origin=origin)
    return person


@transaction.atomic
def team_create(*, slug: str, origin: str = Origin.ADMIN, **fields: Any) -> Team:
    """A new confirmed team. Conflict on a slug or external id in use."""
    _unique(Team, "slug", slug, None)
    _unique(Team, "external_id", fields.get("external_id"), None)
    return teams.team_create(slug=slug, **fields)


@transaction.atomic
def team_update(*, team: Team, origin: str = Origin.ADMIN, **changes: Any) -> Team:
    """Change a team's fields (``_TEAM_FIELDS``; the slug never changes: records name
    it). A parent that would make a cycle is refused, naming ``parent``."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    unknown = set(changes) - set(_TEAM_FIELDS)
    assert not unknown, unknown
    if "external_id" in changes:
        _unique(Team, "external_id", changes["external_id"], team.pk)
    if "parent" in changes:
        _check_parent(team, changes["parent"])
    naming = {k: changes.pop(k) for k in ("name", "domain") if k in changes}
    if naming:  # one path for a team's names: team.renamed
        team = teams.team_rename(
            team=team, name=naming.get("name", team.name), domain=naming.get("domain")
        )
    before = {name: getattr(team, name) for name in changes}
    for name, value in changes.items():
        setattr(team, name, value)
    if changes:
        team.save(update_fields=list(changes))
        audit.record("team.changed", obj=team, before=before, after={**changes, "origin": origin})
    return team
