"""The generic JSON hook: for CI scripts and deploy bots that can compute an HMAC.

The body is already in the wire format (see docs/events.md): one work event, one
token-usage record, a JSON array of either, or ``{"events": [...], "usage": [...]}``.
Records pass through unchanged apart from ``source``, which the webhook URL names
(a ``source`` in the body is dropped). Field validation is the ledger's job, so it
answers per item exactly as ``POST /api/v1/events`` does.

Authentication: ``X-AWU-Timestamp`` is the send time in epoch seconds and
``X-AWU-Signature`` is ``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``;
a timestamp more than five minutes from ``now`` is refused as a replay.
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
    any_secret_matches,
    hmac_hex,
    load_json,
    register,
)
from integrations.webhooks.payload import epoch_header, from_epoch, refuse_replay, required_header

SIGNATURE_HEADER = "X-AWU-Signature"
TIMESTAMP_HEADER = "X-AWU-Timestamp"
SIGNATURE_PREFIX = "sha256="
TOLERANCE = timedelta(minutes=5)

# Fields only a token-usage record has; a record with "type" is a work event.
_USAGE_FIELDS = frozenset(
    {
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cost_usd",
        "period_start",
        "period_end",
    }
)


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-AWU-Signature`` value a sender computes (also used by the docs' CLI)."""
    return SIGNATURE_PREFIX + hmac_hex(secret, timestamp.encode() + b"." + body)


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Check ``X-AWU-Signature`` over ``timestamp + "." + body`` within the tolerance."""
    received = required_header(delivery.headers, SIGNATURE_HEADER)
    if not received.startswith(SIGNATURE_PREFIX):
        raise SignatureError(f"{SIGNATURE_HEADER} must be sha256=<hex>")
    timestamp = epoch_header(delivery.headers, TIMESTAMP_HEADER, unit="seconds")
    refuse_replay(
        from_epoch(int(timestamp), unit="seconds"),
        now=now,
        tolerance=TOLERANCE,
        what=TIMESTAMP_HEADER,
    )
    if not any_secret_matches(
        secrets, lambda secret: signature_for(secret, timestamp, delivery.body), received
    ):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match a live secret")


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The signature and timestamp headers a sender computes at ``now``."""
    timestamp = str(int(now.timestamp()))
    return Signed(
        {SIGNATURE_HEADER: signature_for(secret, timestamp, body), TIMESTAMP_HEADER: timestamp}
    )


def _without_source(item: Any, *, where: str) -> Record:
    if not isinstance(item, Mapping):
        raise MappingError(f"{where} is not a JSON object")
    return {key: value for key, value in item.items() if key != "source"}


def _is_usage(record: Record) -> bool:
    return "type" not in record and bool(_USAGE_FIELDS & record.keys())


def _classified(items: list[Any], *, where: str) -> Mapped:
    events: list[Record] = []
    usage: list[Record] = []
    for position, item in enumerate(items):
        record = _without_source(item, where=f"{where}[{position}]")
        (usage if _is_usage(record) else events).append(record)
    return Mapped(events=events, usage=usage)


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Pass wire-format records through; only the envelope's shape is checked here.

    A single object with ``type`` (or without any usage field) is a work event; one
    with usage fields and no ``type`` is a token-usage record.
    """
    payload = load_json(delivery.body)
    if isinstance(payload, list):
        mapped = _classified(payload, where="body")
    elif not isinstance(payload, Mapping):
        raise MappingError("body is not a JSON object or array")
    elif "events" in payload or "usage" in payload:
        extra = sorted(set(payload) - {"events", "usage"})
        if extra:
            raise MappingError(f"batch body has unknown keys {extra} (only events, usage)")
        events = payload.get("events", [])
        usage = payload.get("usage", [])
        if not isinstance(events, list):
            raise MappingError("events is not a JSON array")
        if not isinstance(usage, list):
            raise MappingError("usage is not a JSON array")
        mapped = Mapped(
            events=[_without_source(item, where=f"events[{i}]") for i, item in enumerate(events)],
            usage=[_without_source(item, where=f"usage[{i}]") for i, item in enumerate(usage)],
        )
    else:
        mapped = _classified([payload], where="body")
    if not mapped.events and not mapped.usage:
        return Mapped.ignore("no events or usage records")
    return mapped


VENDOR = register(
    Vendor(slug="generic", title="Generic JSON hook", verify=verify, parse=parse, sign=sign)
)
