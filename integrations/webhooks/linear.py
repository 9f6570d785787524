"""Linear data-change webhooks: issues completed and reopened.

What becomes what (only ``type: "Issue"`` with ``action: "update"`` is read):

* the issue's workflow state type becomes ``completed`` -> ``ticket.resolved``;
* it leaves ``completed`` -> ``ticket.reopened``;
* every other update, every other action and every other resource type is ignored.

``data.state.type`` says where the issue is now (``completed``; when the state
object is absent, a set ``data.completedAt``). ``updatedFrom`` holds the previous
values of the fields that changed: a state change carries ``stateId``, and Linear
sets or clears ``completedAt`` as an issue enters or leaves a completed state, so
``updatedFrom.completedAt`` tells where it was. A state change that leaves
``completedAt`` alone (started -> started, done -> another done) is ignored.

Refs ``ticket`` = the issue identifier (``ENG-123``); attributes team, priority,
state, labels, assignee.

Authentication: ``Linear-Signature`` is the hex HMAC-SHA256 of the raw body under
the webhook's signing secret. Replay protection: the signed body carries
``webhookTimestamp`` (UNIX milliseconds); a delivery more than
REPLAY_TOLERANCE_SECONDS away from the clock is refused. ``Linear-Delivery`` is
the idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from integrations.webhooks.base import (
    Delivery,
    Mapped,
    MappingError,
    Record,
    SignatureError,
    Signed,
    Vendor,
    hmac_hex,
    load_json,
    register,
)
from integrations.webhooks.payload import (
    check_hex_hmac_header,
    dig,
    from_epoch,
    opt_str,
    refuse_replay,
    req_str,
    utc_timestamp,
    without_nulls,
)

SIGNATURE_HEADER = "Linear-Signature"
DELIVERY_HEADER = "Linear-Delivery"
# Linear's documentation asks receivers to refuse deliveries older than a minute.
REPLAY_TOLERANCE_SECONDS = 60
COMPLETED = "completed"


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass when ``Linear-Signature`` matches a live secret and the delivery is fresh.

    Raises SignatureError for a missing or wrong signature, and for a signed body whose
    ``webhookTimestamp`` is missing or more than REPLAY_TOLERANCE_SECONDS from ``now``.
    A body that is not a JSON object is left to ``parse`` (it cannot be replayed into
    anything: it maps to nothing).
    """
    check_hex_hmac_header(delivery.body, delivery.headers, secrets, header=SIGNATURE_HEADER)
    try:
        payload = load_json(delivery.body)
    except MappingError:
        return
    if not isinstance(payload, dict):
        return
    sent = payload.get("webhookTimestamp")
    if isinstance(sent, bool) or not isinstance(sent, int | float):
        raise SignatureError("webhookTimestamp missing; the delivery's age cannot be checked")
    refuse_replay(
        from_epoch(sent, unit="milliseconds"),
        now=now,
        tolerance=timedelta(seconds=REPLAY_TOLERANCE_SECONDS),
        what="webhookTimestamp",
    )


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The signature header Linear sends (its timestamp is inside the signed body)."""
    return Signed({SIGNATURE_HEADER: hmac_hex(secret, body)})


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Map one Linear delivery to canonical records (see the module docstring)."""
    payload = load_json(delivery.body)
    if not isinstance(payload, dict):
        raise MappingError("body is not a JSON object")
    kind = req_str(payload, "type")
    action = req_str(payload, "action")
    if kind != "Issue" or action != "update":
        return Mapped.ignore(f"{kind} {action} not used")
    delivery_id = delivery.headers.get(DELIVERY_HEADER)
    if not delivery_id:
        raise MappingError(f"{DELIVERY_HEADER} header missing")
    data = dig(payload, "data")
    if not isinstance(data, Mapping):
        raise MappingError("data missing")
    previous = dig(payload, "updatedFrom")
    if not isinstance(previous, Mapping):
        return Mapped.ignore("issue update without updatedFrom")
    if "stateId" not in previous and "completedAt" not in previous:
        return Mapped.ignore("issue update does not change its state")

    state_type = opt_str(data, "state", "type")
    completed_at = dig(data, "completedAt")
    is_done = state_type == COMPLETED if state_type else bool(completed_at)
    was_done = bool(previous["completedAt"]) if "completedAt" in previous else bool(completed_at)
    if is_done == was_done:
        return Mapped.ignore("state change does not enter or leave completed")

    identifier = req_str(payload, "data", "identifier")
    when = dig(data, "updatedAt") or dig(payload, "createdAt")
    labels = dig(data, "labels")
    event: Record = {
        "id": str(delivery_id),
        "type": "ticket.resolved" if is_done else "ticket.reopened",
        "occurred_at": utc_timestamp(when, field="data.updatedAt"),
        "subject": f"linear:{identifier}",
        "refs": {"ticket": [identifier]},
        "attributes": {
            "team": opt_str(data, "team", "key"),
            "priority": opt_str(data, "priorityLabel"),
            "state": opt_str(data, "state", "name"),
            "state_type": state_type,
            "title": opt_str(data, "title"),
            "labels": [
                label["name"]
                for label in (labels if isinstance(labels, list) else [])
                if isinstance(label, Mapping) and isinstance(label.get("name"), str)
            ],
            "assignee": opt_str(data, "assignee", "email") or opt_str(data, "assignee", "name"),
            "url": opt_str(payload, "url"),
        },
    }
    actor = opt_str(payload, "actor", "email")
    if actor is None and (actor_id := opt_str(payload, "actor", "id")):
        actor = f"linear:{actor_id}"
    if actor:
        event["actor"] = actor
    return without_nulls(Mapped(events=[event]))


VENDOR = register(Vendor(slug="linear", title="Linear", verify=verify, parse=parse, sign=sign))
