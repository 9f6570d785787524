"""DocuSign Connect (JSON SIM, Connect 2.0): a completed envelope is a signed contract.

Only ``envelope-completed`` means every recipient has signed; ``envelope-sent``,
``envelope-delivered``, ``recipient-completed`` and the rest are steps on the way
and are acknowledged but not recorded (legal's AWU is a contract *signed*).

``envelope-voided`` and ``envelope-declined`` become ``contract.cancelled``
(``reason`` ``voided`` / ``declined``). DocuSign voids only envelopes still in
process, so a completed envelope is never voided itself: a signed contract is
undone by a *replacement* envelope (an amendment or a termination sent in its
place) that is then voided or declined. Such an envelope names the one it
replaces in an envelope custom field (config ``replaces_field``, default
``replaces_envelope``); the cancellation carries both envelope ids, so it links
to the original signature. Without that field it links only to its own envelope.

Authentication is Connect HMAC: DocuSign sends one ``X-DocuSign-Signature-<n>``
header per active Connect key, each ``base64(HMAC-SHA256(key, raw body))``. Any
header matching any live secret authenticates the delivery. Connect signs no
timestamp, so there is no replay window; a replayed delivery is a duplicate that
the ledger's idempotency key absorbs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from integrations.webhooks.base import (
    ConfigKey,
    Delivery,
    Mapped,
    MappingError,
    Record,
    SignatureError,
    Signed,
    Vendor,
    any_secret_matches,
    load_json,
    register,
)
from integrations.webhooks.payload import hmac_base64, utc_timestamp

SIGNATURE_HEADER_PREFIX = "X-DocuSign-Signature-"
# DocuSign allows up to 100 Connect keys per account, one header each.
MAX_SIGNATURE_HEADERS = 100
COMPLETED_EVENT = "envelope-completed"
CANCELLED_EVENTS = {"envelope-voided": "voided", "envelope-declined": "declined"}
DEFAULT_REPLACES_FIELD = "replaces_envelope"


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass when any ``X-DocuSign-Signature-<n>`` header matches any live secret."""
    received = []
    for index in range(1, MAX_SIGNATURE_HEADERS + 1):
        value = delivery.headers.get(f"{SIGNATURE_HEADER_PREFIX}{index}")
        if not value:
            # Connect numbers its headers from 1 without gaps.
            break
        received.append(str(value).strip())
    if not received:
        raise SignatureError(f"{SIGNATURE_HEADER_PREFIX}1 header missing")
    if not any_secret_matches(secrets, lambda secret: hmac_base64(secret, delivery.body), received):
        raise SignatureError("no X-DocuSign-Signature header matches a live Connect key")


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The first signature header Connect sends (one more per further Connect key)."""
    return Signed({f"{SIGNATURE_HEADER_PREFIX}1": hmac_base64(secret, body)})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _recipient_count(recipients: Any) -> int | None:
    """Count every recipient of every kind (signers, carbonCopies, witnesses, ...)."""
    if not isinstance(recipients, Mapping):
        return None
    return sum(
        len([item for item in group if isinstance(item, Mapping)])
        for group in recipients.values()
        if isinstance(group, list)
    )


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Map ``envelope-completed`` to ``contract.signed`` and ``envelope-voided`` /
    ``envelope-declined`` to ``contract.cancelled`` (see the module docstring).

    The record id is ``<event>:<envelopeId>``.
    """
    payload = load_json(delivery.body)
    if not isinstance(payload, Mapping):
        raise MappingError("body is not a JSON object (expected a Connect JSON SIM message)")
    event = payload.get("event")
    if not isinstance(event, str) or not event:
        raise MappingError("event missing (is the Connect configuration set to JSON SIM?)")
    if event != COMPLETED_EVENT and event not in CANCELLED_EVENTS:
        return Mapped.ignore(f"event {event} not used")

    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise MappingError("data missing")
    envelope_id = _text(data.get("envelopeId"))
    if envelope_id is None:
        raise MappingError("data.envelopeId missing")

    summary = data.get("envelopeSummary")
    if summary is not None and not isinstance(summary, Mapping):
        raise MappingError("data.envelopeSummary is not an object")
    summary = summary or {}

    # The summary is only present when the configuration includes it; without it
    # the message time is the best statement of when the envelope changed.
    when = "completedDateTime" if event == COMPLETED_EVENT else "statusChangedDateTime"
    if summary.get(when):
        occurred_at = utc_timestamp(summary.get(when), field=f"data.envelopeSummary.{when}")
    else:
        occurred_at = utc_timestamp(payload.get("generatedDateTime"), field="generatedDateTime")

    sender = summary.get("sender")
    sender = sender if isinstance(sender, Mapping) else {}
    sender_email = _text(sender.get("email"))
    user_id = _text(data.get("userId")) or _text(sender.get("userId"))
    if sender_email is not None:
        actor: str | None = sender_email
    elif user_id is not None:
        actor = f"docusign:{user_id}"
    else:
        actor = None

    attributes: dict[str, Any] = {
        "email_subject": _text(summary.get("emailSubject")),
        "sender": sender_email or _text(sender.get("userName")),
        "recipients_count": _recipient_count(summary.get("recipients")),
        "account_id": _text(data.get("accountId")),
    }
    envelopes = [envelope_id]
    if event == COMPLETED_EVENT:
        event_type = "contract.signed"
        attributes["completed_at"] = occurred_at
    else:
        event_type = "contract.cancelled"
        attributes["reason"] = CANCELLED_EVENTS[event]
        attributes["voided_reason"] = _text(summary.get("voidedReason"))
        field_name = config.get("replaces_field") or DEFAULT_REPLACES_FIELD
        replaced = _custom_field(summary, field_name)
        if replaced and replaced != envelope_id:
            envelopes.append(replaced)
            attributes["replaces_envelope"] = replaced
    record: Record = {
        # An envelope completes (or is voided, or declined) once: Connect retries
        # (``retryCount``) or a manual republish must land on the same key.
        "id": f"{event}:{envelope_id}",
        "type": event_type,
        "occurred_at": occurred_at,
        "subject": f"docusign:envelope/{envelope_id}",
        "refs": {"envelope": envelopes},
        "attributes": {k: v for k, v in attributes.items() if v is not None},
    }
    if actor is not None:
        record["actor"] = actor
    return Mapped(events=[record])


def _custom_field(summary: Mapping[str, Any], name: str) -> str | None:
    """The value of the envelope's text custom field ``name``, if any."""
    fields = summary.get("customFields")
    texts = fields.get("textCustomFields") if isinstance(fields, Mapping) else None
    for item in texts if isinstance(texts, list) else ():
        if isinstance(item, Mapping) and item.get("name") == name:
            return _text(item.get("value"))
    return None


CONFIG_KEYS = {
    "replaces_field": ConfigKey(
        "string", "envelope custom field naming the envelope a replacement undoes"
    ),
}


VENDOR = register(
    Vendor(
        slug="docusign",
        title="DocuSign Connect",
        verify=verify,
        parse=parse,
        sign=sign,
        config_keys=CONFIG_KEYS,
    )
)
