"""Proposed mappings: a vendor login seen beside an email that is already someone's.

A push names its author as ``github:octocat`` and, in the same payload, gives
their email. When that email already belongs to a person (an identity in force,
or their email), the login is proposed for that person; nobody has to guess. A
proposal is only a suggestion: it becomes an identity when someone accepts it
(``proposal_accept``), through the same mapping path as every other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from integrations.models import ActorProposal
from ledger.models import Identity, Person

logger = logging.getLogger(__name__)

_MAX = 254


def proposals_record(*, aliases: Iterable[tuple[str, str]], vendor: str, now: datetime) -> int:
    """Record (or count again) a proposal for each (login, email) pair whose login is
    unmapped and whose email belongs to a person. Answers how many were recorded.

    Never fails the delivery that carried them: an error is logged and dropped (a
    savepoint keeps the delivery's own writes).
    """
    pairs = {(a, e) for a, e in aliases if a and e and len(a) <= _MAX and len(e) <= _MAX}
    if not pairs:
        return 0
    try:
        with transaction.atomic():
            return _record(pairs, vendor, now)
    except DatabaseError:
        logger.exception("could not record mapping proposals from a %s delivery", vendor)
        return 0


def _record(pairs: set[tuple[str, str]], vendor: str, now: datetime) -> int:
    mapped = set(
        Identity.objects.filter(value__in={a for a, _ in pairs}).values_list("value", flat=True)
    )
    pairs = {(a, e) for a, e in pairs if a not in mapped}
    emails = {e.lower() for _, e in pairs}
    owner: dict[str, int] = {
        value.lower(): person
        for value, person in Identity.objects.filter(value__in={e for _, e in pairs}).values_list(
            "value", "person_id"
        )
    }
    for email, person in Person.objects.filter(
        Q(email__in={e for _, e in pairs}) | Q(email__in=emails)
    ).values_list("email", "pk"):
        owner.setdefault((email or "").lower(), person)
    rows = sorted(
        (actor, owner[email.lower()], email) for actor, email in pairs if email.lower() in owner
    )
    with connection.cursor() as cursor:
        for actor, person, email in rows:
            # One upsert: concurrent deliveries naming the same pair both count.
            cursor.execute(
                """
                INSERT INTO integrations_actorproposal
                    (actor, person_id, email, vendor, seen, first_seen_at, last_seen_at, status)
                VALUES (%s, %s, %s, %s, 1, %s, %s, 'open')
                ON CONFLICT (actor, person_id) DO UPDATE
                SET seen = integrations_actorproposal.seen + 1,
                    email = EXCLUDED.email,
                    last_seen_at = GREATEST(integrations_actorproposal.last_seen_at,
                                            EXCLUDED.last_seen_at)
                """,
                [actor, person, email, vendor, now, now],
            )
    return len(rows)


def proposals_open(actors: Iterable[str]) -> dict[str, list[ActorProposal]]:
    """Open proposals for each of ``actors``, most seen first."""
    out: dict[str, list[ActorProposal]] = {}
    for row in (
        ActorProposal.objects.filter(actor__in=set(actors), status=ActorProposal.Status.OPEN)
        .select_related("person")
        .order_by("actor", "-seen", "id")
    ):
        out.setdefault(row.actor, []).append(row)
    return out


def proposals_close(*, actor: str, person_id: int, now: datetime) -> None:
    """Once ``actor`` is mapped: its proposal for that person is accepted, others dismissed."""
    open_ = ActorProposal.objects.filter(actor=actor, status=ActorProposal.Status.OPEN)
    open_.filter(person_id=person_id).update(status=ActorProposal.Status.ACCEPTED, decided_at=now)
    open_.exclude(person_id=person_id).update(status=ActorProposal.Status.DISMISSED, decided_at=now)
