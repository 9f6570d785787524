"""Receiving a webhook delivery: verify, map, store — and keep what failed to map."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction

from integrations.models import ActorProposal, DeadLetter
from integrations.proposals import proposals_close, proposals_record
from integrations.webhooks.base import Delivery, Mapped, MappingError, Vendor
from ledger import clock, directory, ingest
from ledger.models import Identity, Person, Source

logger = logging.getLogger(__name__)

# Headers never kept with a dead letter (credentials, not needed to replay).
# Signature headers are kept: an HMAC does not reveal the secret, and it shows
# what the vendor signed.
_REDACTED = {"authorization", "cookie", "x-gitlab-token", "x-api-key"}
# Query parameters that carry a credential (Salesforce's ?token= is the secret).
_REDACTED_QUERY = {"token", "key", "secret", "signature", "sig", "api_key", "access_token"}


def _storable(text: str) -> str:
    # PostgreSQL text and jsonb refuse NUL; a vendor payload may quote one back
    # into an error or a reason, which must not turn the delivery into a 500.
    return text.replace("\x00", "\\x00")


def _url_without_credentials(url: str) -> str:
    parts = urlsplit(url)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name.lower() not in _REDACTED_QUERY
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Outcome:
    """What became of a delivery: stored records, ignored, or dead-lettered."""

    mapped: Mapped | None = None
    events: list[ingest.ItemResult] = field(default_factory=list)
    usage: list[ingest.ItemResult] = field(default_factory=list)
    dead_letter: DeadLetter | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.dead_letter is not None:
            return {
                "status": "dead_letter",
                "detail": self.error,
                "dead_letter": self.dead_letter.pk,
            }
        if self.mapped is not None and self.mapped.ignored:
            return {"status": "ignored", "reason": self.mapped.ignored}
        return {
            "status": "stored",
            "events": [r.as_dict() for r in self.events],
            "usage": [r.as_dict() for r in self.usage],
        }


def _invalid_summary(results: list[ingest.ItemResult], kind: str) -> list[str]:
    out = []
    for result in results:
        if result.status == "invalid":
            fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in (result.errors or {}).items())
            out.append(f"{kind} {result.index}: {fields}")
    return out


def delivery_store(*, vendor: Vendor, source: Source, delivery: Delivery, now: datetime) -> Outcome:
    """Map an authentic delivery and store its records.

    A delivery that fails to map — the vendor module raises, or produces records
    the ledger refuses — is kept as a dead letter with the error, and nothing of
    it is stored, so a replay after the fix stores it whole. Idempotent: the
    records' ids come from the vendor's delivery ids, so a redelivery answers
    duplicate.
    """
    try:
        mapped = vendor.parse(delivery, source.config or {})
    except MappingError as exc:
        return _dead_letter(source, vendor, delivery, now, str(exc))
    except Exception as exc:  # a mapping bug must not lose the delivery or answer 500
        logger.exception("vendor %s failed to map a delivery", vendor.slug)
        return _dead_letter(source, vendor, delivery, now, f"{exc.__class__.__name__}: {exc}")

    proposals_record(aliases=mapped.aliases, vendor=vendor.slug, now=now)
    if mapped.ignored:
        _count_ignored(source, mapped.ignored, now)
        return Outcome(mapped=mapped)

    events = [{**record, "source": source.slug} for record in mapped.events]
    usage = [{**record, "source": source.slug} for record in mapped.usage]
    with transaction.atomic():
        outcome = Outcome(mapped=mapped)
        if events:
            outcome.events = ingest.events_ingest(items=events, now=now, source_id=source.pk)
        if usage:
            outcome.usage = ingest.usage_ingest(items=usage, now=now, source_id=source.pk)
        problems = _invalid_summary(outcome.events, "event") + _invalid_summary(
            outcome.usage, "usage"
        )
        if problems:
            # Undo the valid part too: a delivery is stored whole or kept whole.
            transaction.set_rollback(True)
    if problems:
        return _dead_letter(
            source, vendor, delivery, now, "records refused: " + " | ".join(problems)
        )
    return outcome


def _dead_letter(
    source: Source, vendor: Vendor, delivery: Delivery, now: datetime, error: str
) -> Outcome:
    headers = {
        _storable(str(name)): _storable(str(value))
        for name, value in dict(delivery.headers.items()).items()  # type: ignore[attr-defined]
        if name.lower() not in _REDACTED
    }
    letter = DeadLetter.objects.create(
        source=source,
        vendor=vendor.slug,
        received_at=now,
        url=_storable(_url_without_credentials(delivery.url))[:2000],
        headers=headers,
        body=delivery.body,
        error=_storable(error)[:10_000],
    )
    return Outcome(dead_letter=letter, error=_storable(error))


def _count_ignored(source: Source, reason: str, now: datetime) -> None:
    # One upsert: two concurrent deliveries of the same kind both count (an update
    # followed by get_or_create would lose one when both find no row).
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO integrations_ignoreddeliveries (source_id, reason, count, last_seen_at)
            VALUES (%s, %s, 1, %s)
            ON CONFLICT (source_id, reason) DO UPDATE
            SET count = integrations_ignoreddeliveries.count + 1,
                last_seen_at = GREATEST(integrations_ignoreddeliveries.last_seen_at,
                                        EXCLUDED.last_seen_at)
            """,
            [source.pk, _storable(reason)[:200], now],
        )


class _StoredHeaders(dict[str, Any]):
    """Case-insensitive header access for a dead letter's stored headers."""

    def get(self, key: str, default: Any = None) -> Any:
        lowered = key.lower()
        for name, value in self.items():
            if name.lower() == lowered:
                return value
        return default


def dead_letter_replay(*, letter: DeadLetter, vendor: Vendor, now: datetime) -> Outcome:
    """Map a dead letter again (after a fix) and store it.

    Its signature was checked when it arrived, so it is not checked again (the
    secret may have rotated since). The records keep the ids the vendor's delivery
    gave them, so replaying twice stores them once. A letter that still fails is
    kept (with the new error in ``replay_result``); no second letter is made.
    """
    delivery = Delivery(
        body=bytes(letter.body), headers=_StoredHeaders(letter.headers), url=letter.url
    )
    with transaction.atomic():
        outcome = delivery_store(vendor=vendor, source=letter.source, delivery=delivery, now=now)
        if outcome.dead_letter is not None:
            # Still failing: keep the original, drop the new copy.
            outcome.dead_letter.delete()
            letter.replay_result = _storable(f"still failing: {outcome.error}")[:10_000]
        else:
            letter.replay_result = _storable(str(outcome.as_dict()))[:10_000]
        letter.replayed_at = now
        letter.save(update_fields=["replayed_at", "replay_result"])
    return outcome


def unmapped_actor_map(
    *, actor: str, person: Person | None = None, origin: str = directory.Origin.ADMIN
) -> Identity:
    """Map an actor to ``person``, or in one step to a person created for it.

    Without ``person``: an actor that is an e-mail address of an existing person
    maps to that person, else a person named after it is created; an actor already
    mapped keeps its person (idempotent). With ``person``: mapped to them, and an
    actor mapped to someone else is a ``Conflict``. Its open proposals are settled
    (the one for this person accepted, the others dismissed).
    """
    actor = actor.strip()
    if not actor:
        raise ValueError("actor is empty")
    with transaction.atomic():
        if person is not None:
            identity, _ = directory.identity_claim(value=actor, person=person, origin=origin)
        else:
            identity = _map_to_new_or_own(actor, origin)
        proposals_close(actor=actor, person_id=identity.person_id, now=clock.now())
        return identity


def _map_to_new_or_own(actor: str, origin: str) -> Identity:
    existing = Identity.objects.filter(value=actor).select_related("person").first()
    if existing is not None:
        return existing
    email = actor if _looks_like_email(actor) else None
    person = Person.objects.filter(email=email).first() if email else None
    if person is None:
        person = directory.person_create(name=actor[:200], email=email, origin=origin)
    return directory.identity_map(value=actor, person=person, origin=origin)


def proposal_accept(*, proposal: ActorProposal, origin: str = directory.Origin.ADMIN) -> Identity:
    """Map the proposal's login to its person (a Conflict if it was mapped meanwhile)."""
    return unmapped_actor_map(actor=proposal.actor, person=proposal.person, origin=origin)


def _looks_like_email(text: str) -> bool:
    try:
        validate_email(text)
    except ValidationError:
        return False
    return len(text) <= 254
