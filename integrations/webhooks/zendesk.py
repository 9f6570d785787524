"""Zendesk webhooks: a ticket solved, or a solved ticket opened again.

Two body shapes are accepted on the same URL:

* the event-subscription format Zendesk defines for webhooks subscribed to
  ``zen:event-type:ticket.status_changed`` (``detail`` holds the ticket,
  ``event.previous`` / ``event.current`` the statuses);
* a trigger body for accounts that connect the webhook to triggers instead
  (documented in docs/integrations/zendesk.md): ``{"awu_event": ...,
  "ticket_id": ..., "updated_at": ..., ...}``.

Solved from any open-ish status -> ``ticket.resolved``; solved or closed back to
new/open/pending/hold -> ``ticket.reopened``. Everything else is acknowledged and
ignored.

Authentication: ``X-Zendesk-Webhook-Signature`` is
``base64(HMAC-SHA256(signing secret, timestamp + body))`` with the timestamp from
``X-Zendesk-Webhook-Signature-Timestamp``; a timestamp more than
``TOLERANCE`` away from ``now`` is refused as a replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations.webhooks.base import (
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
from integrations.webhooks.payload import (
    hmac_base64,
    identifier,
    refuse_replay,
    required_header,
    utc_timestamp,
)

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
TOLERANCE = timedelta(minutes=5)

STATUS_CHANGED = "zen:event-type:ticket.status_changed"
EVENT_TYPE_PREFIX = "zen:event-type:"
DONE_STATUSES = frozenset({"solved", "closed"})
OPEN_STATUSES = frozenset({"new", "open", "pending", "hold"})
TRIGGER_EVENTS = frozenset({"ticket.resolved", "ticket.reopened"})


def _signature_time(value: str) -> datetime:
    """Zendesk sends an ISO 8601 UTC time; epoch seconds are accepted as well."""
    if value.isascii() and value.isdigit():
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise SignatureError(f"{TIMESTAMP_HEADER} out of range") from exc
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a timestamp") from exc
    if parsed.tzinfo is None:
        raise SignatureError(f"{TIMESTAMP_HEADER} has no UTC offset")
    return parsed


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Check the webhook signature and refuse a timestamp outside the tolerance."""
    received = required_header(delivery.headers, SIGNATURE_HEADER)
    timestamp = required_header(delivery.headers, TIMESTAMP_HEADER)
    refuse_replay(_signature_time(timestamp), now=now, tolerance=TOLERANCE, what=TIMESTAMP_HEADER)
    message = timestamp.encode() + delivery.body
    if not any_secret_matches(secrets, lambda secret: hmac_base64(secret, message), received):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match a live signing secret")


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The signature and timestamp headers Zendesk sends at ``now``."""
    timestamp = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Signed(
        {
            SIGNATURE_HEADER: hmac_base64(secret, timestamp.encode() + body),
            TIMESTAMP_HEADER: timestamp,
        }
    )


def _status(value: Any, *, field: str) -> str:
    # Event payloads may carry the status bare or as {"status": ...}; case varies.
    if isinstance(value, Mapping):
        value = value.get("status")
    if not isinstance(value, str) or not value:
        raise MappingError(f"{field} missing")
    return value.lower()


def _optional_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or value in ("", "0", 0):
        return None
    return str(value)


def _transition(previous: str, current: str) -> str | None:
    if current == "solved" and previous not in DONE_STATUSES:
        return "ticket.resolved"
    if previous in DONE_STATUSES and current in OPEN_STATUSES:
        return "ticket.reopened"
    return None


def _ticket_record(
    *,
    record_id: str,
    kind: str,
    ticket_id: str,
    occurred_at: str,
    actor: str | None,
    attributes: dict[str, Any],
) -> Record:
    record: Record = {
        "id": record_id,
        "type": kind,
        "occurred_at": occurred_at,
        "subject": f"zendesk:ticket/{ticket_id}",
        "refs": {"ticket": [f"zendesk:{ticket_id}"]},
        "attributes": attributes,
    }
    if actor is not None:
        record["actor"] = actor
    return record


def _from_event(payload: Mapping[str, Any]) -> Mapped:
    kind = payload["type"]
    if kind != STATUS_CHANGED:
        return Mapped.ignore(f"event {kind} not used")
    detail = payload.get("detail")
    if not isinstance(detail, Mapping):
        raise MappingError("detail missing")
    change = payload.get("event")
    if not isinstance(change, Mapping):
        raise MappingError("event missing")
    previous = _status(change.get("previous"), field="event.previous")
    current = _status(change.get("current"), field="event.current")
    outcome = _transition(previous, current)
    if outcome is None:
        return Mapped.ignore(f"status change {previous} -> {current} not used")
    event_id = identifier(payload.get("id"), field="id")
    ticket_id = identifier(detail.get("id"), field="detail.id")
    occurred_at = utc_timestamp(payload.get("time"), field="time")
    actor_id = _optional_id(detail.get("actor_id")) or _optional_id(detail.get("assignee_id"))
    via = detail.get("via")
    attributes: dict[str, Any] = {
        "from_status": previous,
        "to_status": current,
        "priority": detail.get("priority") if isinstance(detail.get("priority"), str) else None,
        "ticket_type": detail.get("type") if isinstance(detail.get("type"), str) else None,
        "group_id": _optional_id(detail.get("group_id")),
        "brand_id": _optional_id(detail.get("brand_id")),
        "account_id": _optional_id(payload.get("account_id")),
        "channel": via.get("channel")
        if isinstance(via, Mapping) and isinstance(via.get("channel"), str)
        else None,
    }
    record = _ticket_record(
        record_id=event_id,
        kind=outcome,
        ticket_id=ticket_id,
        occurred_at=occurred_at,
        actor=f"zendesk:{actor_id}" if actor_id else None,
        attributes=attributes,
    )
    return Mapped(events=[record])


def _from_trigger(payload: Mapping[str, Any]) -> Mapped:
    kind = payload["awu_event"]
    if not isinstance(kind, str) or kind not in TRIGGER_EVENTS:
        raise MappingError(f"awu_event must be one of {sorted(TRIGGER_EVENTS)}, got {kind!r}")
    ticket_id = identifier(payload.get("ticket_id"), field="ticket_id")
    occurred_at = utc_timestamp(payload.get("updated_at"), field="updated_at")
    actor = payload.get("actor_email")
    status = payload.get("status")
    attributes: dict[str, Any] = {
        "to_status": status.lower() if isinstance(status, str) and status else None,
        "priority": payload.get("priority") if isinstance(payload.get("priority"), str) else None,
    }
    # A trigger body carries no event id: the ticket's update time names the change,
    # and a retried request renders the same body.
    record = _ticket_record(
        record_id=f"{kind}:{ticket_id}:{occurred_at}",
        kind=kind,
        ticket_id=ticket_id,
        occurred_at=occurred_at,
        actor=actor if isinstance(actor, str) and actor else None,
        attributes=attributes,
    )
    return Mapped(events=[record])


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Map a ticket status change (event subscription or trigger body) to ticket events.

    Event-subscription records use Zendesk's event ``id`` as the idempotency key.
    """
    payload = load_json(delivery.body)
    if not isinstance(payload, Mapping):
        raise MappingError("body is not a JSON object")
    if "awu_event" in payload:
        return _from_trigger(payload)
    kind = payload.get("type")
    if isinstance(kind, str) and kind.startswith(EVENT_TYPE_PREFIX):
        return _from_event(payload)
    raise MappingError(
        "body is neither a Zendesk event (type zen:event-type:...) nor a trigger body (awu_event)"
    )


VENDOR = register(Vendor(slug="zendesk", title="Zendesk", verify=verify, parse=parse, sign=sign))
