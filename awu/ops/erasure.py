"""Erasure of a person's identity data, keeping every count, sum and report total.

The person becomes a pseudonym, ``erased-<12 hex>``: their Person row stays
(same id, so memberships, units, entries and rollups keyed by person id hold),
renamed to the pseudonym, without an email; their identities are replaced by
one identity whose value is the pseudonym; ledger records that name them are
rewritten through the guarded path of the append-only triggers (ledger
migration 0005), which lets an erasure change ``actor`` and ``attributes`` and
nothing else. Because the pseudonym resolves to the same person, every report
reads the same numbers before and after.

What is looked for ("values"): the person's identity values, their email and
name, and the login part of vendor identities (``alice`` of ``github:alice``),
since vendor bodies carry the bare login.

* WorkEvent / TokenUsage ``actor``: an identity value becomes the pseudonym. The
  email, when it is no identity (an actor nobody mapped), becomes a pseudonym
  of its own that maps to nobody, so unmapped spend stays unmapped.
* WorkEvent / TokenUsage ``attributes``: any JSON string equal to a value,
  however deeply nested, becomes the pseudonym.
* WorkUnit ``actor`` (scoring state, updated in place): its trigger event's new
  actor.
* Dead letters whose body, headers, url or error mention a value are deleted:
  a raw vendor body cannot be rewritten and still be the delivery it was.
  Replay them first if their work should count.
* Django admin log lines that mention a value are rewritten.
* Audit events (ledger.audit): an actor or a label that mentions a value becomes
  the pseudonym, and the values inside ``before`` and ``after`` are replaced,
  through the audit trigger's guarded path (ledger migration 0012). The
  ``reason`` text is left as written.
* Left as they are: the idempotency digests (EventKey, UsageKey: SHA-256 of the
  canonical body, no readable data; keeping them means a redelivery of an erased
  record is still a duplicate and does not bring the name back), AwuEntry and
  the report rollups (keyed by person id, they hold no actor strings; the
  identity values the deletion queued for them are dropped from the queue).

One transaction; idempotent (a second run finds nothing and records nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.db import connection, transaction

from awu.ops.models import Erasure
from awu.reports.rollups import rollups_forget_actors
from ledger import audit
from ledger.models import Identity, Person

PREFIX = "erased-"
# Values shorter than this are not searched for inside free text (dead letter
# bodies, admin log lines): a two-letter name would match half the bodies.
MIN_SUBSTRING = 4
_BATCH = 2000
_LEDGER_TABLES = ("ledger_workevent", "ledger_tokenusage")


class PersonNotFound(Exception):
    """No person has that id."""


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure changed (or, on a dry run, would change), by table."""

    person_id: int
    pseudonym: str
    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def changed(self) -> int:
        return sum(self.counts.values())


def person_pseudonym(*, person_id: int) -> str:
    """The stable pseudonym of a person: the same on every run and every machine."""
    recorded = (
        Erasure.objects.filter(person_id=person_id)
        .order_by("at")
        .values_list("pseudonym", flat=True)
        .first()
    )
    return recorded or PREFIX + hashlib.sha256(f"awu-person:{person_id}".encode()).hexdigest()[:12]


def _actor_pseudonym(value: str) -> str:
    # Keyed, so nobody without the secret can confirm a guessed email against it.
    digest = hmac.new(settings.SECRET_KEY.encode(), f"awu-actor:{value}".encode(), "sha256")
    return PREFIX + digest.hexdigest()[:12]


@dataclass(frozen=True)
class _Values:
    pseudonym: str
    # actor value -> what it becomes
    actors: dict[str, str]
    # JSON string values (in attributes) that become the pseudonym
    strings: frozenset[str]

    @property
    def searched(self) -> list[str]:
        """What to look for inside free text, longest first."""
        wanted = {v for v in self.strings | set(self.actors) if len(v) >= MIN_SUBSTRING}
        return sorted(wanted, key=lambda v: (-len(v), v))


def _values(person: Person, pseudonym: str) -> _Values:
    identities = [
        v
        # Every alias the person ever had, except one now in force for somebody else.
        for v in Identity.history.filter(person=person)
        .exclude(value__in=Identity.objects.exclude(person=person).values("value"))
        .values_list("value", flat=True)
        .distinct()
        if not v.startswith(PREFIX)
    ]
    actors = dict.fromkeys(identities, pseudonym)
    strings = set(identities)
    email = person.email or ""
    if email:
        strings.add(email)
        # The email as an actor that no identity maps: keep it unmapped.
        if email not in actors and not Identity.objects.filter(value=email).exists():
            actors[email] = _actor_pseudonym(email)
    if person.name and not person.name.startswith(PREFIX):
        strings.add(person.name)
    for value in identities:
        kind, sep, login = value.partition(":")
        if sep and login and "@" not in kind and "/" not in login:
            strings.add(login)
    return _Values(pseudonym=pseudonym, actors=actors, strings=frozenset(s for s in strings if s))


def _redact(value: Any, strings: frozenset[str], pseudonym: str) -> Any:
    if isinstance(value, str):
        return pseudonym if value in strings else value
    if isinstance(value, list):
        return [_redact(v, strings, pseudonym) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, strings, pseudonym) for k, v in value.items()}
    return value


def _json(value: Any) -> Any:
    # Django's psycopg set-up hands jsonb to raw cursors as text.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _ledger_rewrite(table: str, values: _Values) -> int:
    """Rewrite actor and attributes of the rows of ``table`` that name the person."""
    actors = sorted(values.actors)
    strings = orjson.dumps(sorted(values.strings)).decode()
    with connection.cursor() as cursor:
        # Actor rows come from the (actor, occurred_at) index; attribute values
        # need a scan of the table, which an erasure (rare) can afford.
        cursor.execute(
            f"SELECT id FROM {table} WHERE actor = ANY(%s)"  # noqa: S608 - fixed table names
            f" UNION SELECT id FROM {table}"
            " WHERE jsonb_path_exists(attributes, '$.** ? (@ == $v[*])', jsonb_build_object('v', %s::jsonb))"
            " ORDER BY 1",
            [actors, strings],
        )
        ids = [row[0] for row in cursor.fetchall()]
        for start in range(0, len(ids), _BATCH):
            cursor.execute(
                f"SELECT id, actor, attributes FROM {table} WHERE id = ANY(%s)",  # noqa: S608
                [ids[start : start + _BATCH]],
            )
            rows = cursor.fetchall()
            cursor.execute(
                f"UPDATE {table} AS r SET actor = v.actor, attributes = v.attributes::jsonb"  # noqa: S608
                " FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, actor, attributes)"
                " WHERE r.id = v.id",
                [
                    [row[0] for row in rows],
                    [values.actors.get(row[1], row[1]) for row in rows],
                    [
                        orjson.dumps(
                            _redact(_json(row[2]), values.strings, values.pseudonym)
                        ).decode()
                        for row in rows
                    ],
                ],
            )
    return len(ids)


def _units_rewrite(values: _Values) -> int:
    """A unit's actor is its trigger event's actor: copy the erased one over.

    Also catches a unit that a concurrent scoring pass wrote with the old actor
    after an earlier run read it (that run's values are gone by now, but the
    trigger event's pseudonym is not).
    """
    pseudonyms = sorted({values.pseudonym, *values.actors.values()})
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scoring_workunit u SET actor = e.actor
            FROM ledger_workevent e
            WHERE e.id = u.trigger_event_id AND u.actor IS DISTINCT FROM e.actor
              AND (u.actor = ANY(%s) OR e.actor = ANY(%s))
            """,
            [sorted(values.actors), pseudonyms],
        )
        return cursor.rowcount


def _dead_letters_delete(values: _Values) -> int:
    searched = values.searched
    if not searched:
        return 0
    needles_bytes = sorted({v.encode() for v in searched} | {v.lower().encode() for v in searched})
    with connection.cursor() as cursor:
        cursor.execute(
            """
            DELETE FROM integrations_deadletter d
            WHERE EXISTS (SELECT 1 FROM unnest(%s::bytea[]) n WHERE position(n IN d.body) > 0)
               OR EXISTS (SELECT 1 FROM unnest(%s::text[]) n
                          WHERE strpos(lower(d.headers::text || ' ' || d.url || ' ' || d.error
                                             || ' ' || d.replay_result), n) > 0)
            """,
            [needles_bytes, [v.lower() for v in searched]],
        )
        return cursor.rowcount


def _replace_all(text: str, searched: Iterable[str], pseudonym: str) -> str:
    for value in searched:
        text = text.replace(value, pseudonym)
    return text


def _admin_log_rewrite(values: _Values) -> int:
    searched = values.searched
    if not searched:
        return 0
    changed = 0
    for entry in LogEntry.objects.only("object_repr", "change_message").iterator():
        repr_, message = entry.object_repr, entry.change_message
        new_repr = _replace_all(repr_, searched, values.pseudonym)
        new_message = _replace_all(message, searched, values.pseudonym)
        if (new_repr, new_message) != (repr_, message):
            LogEntry.objects.filter(pk=entry.pk).update(
                object_repr=new_repr[:200], change_message=new_message
            )
            changed += 1
    return changed


def _audit_rewrite(values: _Values) -> int:
    """Audit rows that mention the person: an actor or a label that does becomes
    the pseudonym; inside before and after, the values are replaced (any case).
    Through the trigger's guarded path (ledger migration 0012); ``reason`` is left
    alone."""
    searched = values.searched
    if not searched:
        return 0
    pattern = re.compile("|".join(re.escape(v) for v in searched), re.IGNORECASE)
    pseudonym = values.pseudonym

    def redact(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(pseudonym, value)
        if isinstance(value, list):
            return [redact(v) for v in value]
        if isinstance(value, dict):
            return {k: redact(v) for k, v in value.items()}
        return value

    def as_json(value: Any) -> str | None:
        return None if value is None else orjson.dumps(redact(_json(value))).decode()

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, actor, object_label, before, after FROM ledger_auditevent a
            WHERE EXISTS (SELECT 1 FROM unnest(%s::text[]) n
                          WHERE strpos(lower(a.actor || ' ' || a.object_label || ' '
                                             || coalesce(a.before::text, '') || ' '
                                             || coalesce(a.after::text, '')), n) > 0)
            """,
            [[v.lower() for v in searched]],
        )
        rows = cursor.fetchall()
        for row_id, actor, label, before, after in rows:
            cursor.execute(
                "UPDATE ledger_auditevent SET actor = %s, object_label = %s,"
                " before = %s::jsonb, after = %s::jsonb WHERE id = %s",
                [
                    pseudonym if pattern.search(actor) else actor,
                    pseudonym if pattern.search(label) else label,
                    as_json(before),
                    as_json(after),
                    row_id,
                ],
            )
    return len(rows)


def _identities_replace(person: Person, values: _Values) -> int:
    pseudonym = values.pseudonym
    # Every row of the identities' history names them; the history trigger lets an
    # erasure (and nothing else) delete rows (ledger migration 0008).
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL awu.erasure = 'on'")
        deleted, _ = Identity.history.filter(person=person).exclude(value=pseudonym).delete()
        cursor.execute("SET LOCAL awu.erasure = 'off'")
    # The delete queued the old values for the rollups; no ledger record names them
    # any more (rewritten above), so nothing of the rollups changes with them.
    rollups_forget_actors(actors=values.actors)
    _, created = Identity.objects.get_or_create(
        value=pseudonym, defaults={"person": person, "origin": Identity.Origin.SYSTEM}
    )
    return deleted + int(created)


def person_erase(
    *, person_id: int, now: datetime, dry_run: bool = False, reason: str = ""
) -> ErasureReport:
    """Erase a person's identity data everywhere; keep every number.

    Runs in one transaction and holds the person's row lock throughout. With
    ``dry_run`` everything is done and then rolled back, so the counts are
    exactly what a real run would change. A real run that changed anything
    appends an ``Erasure`` audit record (no personal data in it). Running it
    again changes nothing. Raises ``PersonNotFound``.
    """
    with transaction.atomic():
        person = Person.objects.select_for_update().filter(pk=person_id).first()
        if person is None:
            raise PersonNotFound(person_id)
        pseudonym = person_pseudonym(person_id=person_id)
        values = _values(person, pseudonym)
        counts: dict[str, int] = {}
        if values.actors or values.strings:
            with connection.cursor() as cursor:
                # Opens the guarded path of the append-only triggers for this
                # transaction only, and closes it again right after.
                cursor.execute("SET LOCAL awu.erasure = 'on'")
                for table in _LEDGER_TABLES:
                    counts[table] = _ledger_rewrite(table, values)
                counts["ledger_auditevent"] = _audit_rewrite(values)
                cursor.execute("SET LOCAL awu.erasure = 'off'")
            counts["integrations_deadletter"] = _dead_letters_delete(values)
            counts["django_admin_log"] = _admin_log_rewrite(values)
        counts["scoring_workunit"] = _units_rewrite(values)
        counts["ledger_identity"] = _identities_replace(person, values)
        renamed = (
            person.name != pseudonym
            or person.email is not None
            or person.user_name is not None
            or bool(person.directory_attributes)
        )
        if renamed:
            # What a directory (SCIM) sent about them goes too: login, name parts,
            # phone numbers, addresses.
            Person.objects.filter(pk=person.pk).update(
                name=pseudonym, email=None, user_name=None, directory_attributes={}
            )
        counts["ledger_person"] = int(renamed)
        report = ErasureReport(
            person_id=person_id, pseudonym=pseudonym, counts=counts, dry_run=dry_run
        )
        if dry_run:
            transaction.set_rollback(True)
        elif report.changed:
            Erasure.objects.create(person_id=person_id, pseudonym=pseudonym, counts=counts, at=now)
            # No personal data: the person's id, the pseudonym, the counts.
            audit.record(
                "person.erased",
                object_type="person",
                object_id=person_id,
                label=pseudonym,
                after={"pseudonym": pseudonym, "rows_changed": counts},
                reason=reason,
            )
    return report
