"""HubSpot webhooks: a deal moving between pipeline stages.

HubSpot posts a JSON array of subscription events (up to 100 per request). Each
``deal.propertyChange`` event whose ``propertyName`` is ``dealstage`` becomes one
``crm.opportunity.stage_changed``; every other event in the batch is counted and
skipped.

The webhook carries only the new stage id (``propertyValue``): no previous stage,
no pipeline, no order. Order and outcome come from the source config:

* ``stages``: stage ids in pipeline order (default: HubSpot's default sales pipeline);
* ``won_stages`` / ``lost_stages``: stage ids that close the deal won / lost;
* ``pipeline``: the label recorded on every event (default ``"default"``);
* ``cancelled_stages``: stage ids that mean the deal's signed contract was
  cancelled (none by default: HubSpot's default pipeline has no such stage). A
  move into one is also a ``contract.cancelled`` (``reason`` = the stage id) with
  refs ``deal`` and ``envelope`` = ``hubspot:<deal id>``: the webhook names no
  e-signature envelope, so it links to signatures recorded under that key.

``from_stage`` and ``from_order`` are therefore always null; see
docs/integrations/hubspot.md for how the shipped sales rule reads that.

Authentication is the v3 request signature: ``X-HubSpot-Signature-v3`` is
``base64(HMAC-SHA256(app secret, method + uri + body + timestamp))`` with the
timestamp (epoch milliseconds) from ``X-HubSpot-Request-Timestamp``; a request
more than five minutes away from ``now`` is refused as a replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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
from integrations.webhooks.payload import (
    config_strings,
    epoch_header,
    epoch_ms_timestamp,
    from_epoch,
    hmac_base64,
    identifier,
    refuse_replay,
    required_header,
)

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
TOLERANCE = timedelta(minutes=5)

# HubSpot's default sales pipeline, in order.
DEFAULT_STAGES: tuple[str, ...] = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
DEFAULT_WON_STAGES: tuple[str, ...] = ("closedwon",)
DEFAULT_LOST_STAGES: tuple[str, ...] = ("closedlost",)
DEFAULT_PIPELINE = "default"
# How this source has always worded and checked its stage lists.
_STAGE_LIST: dict[str, Any] = {"what": "stage ids", "quote_key": False, "allow_tuple": False}

# HubSpot signs the URI with these escapes decoded (its v3 validation guide lists them).
_DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def _signed_uri(url: str) -> str:
    for escape, char in _DECODED_ESCAPES.items():
        url = url.replace(escape, char).replace(escape.lower(), char)
    return url


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Check the v3 signature and refuse timestamps more than 5 minutes from ``now``."""
    received = required_header(delivery.headers, SIGNATURE_HEADER)
    timestamp = epoch_header(delivery.headers, TIMESTAMP_HEADER, unit="milliseconds")
    refuse_replay(
        from_epoch(int(timestamp), unit="milliseconds"),
        now=now,
        tolerance=TOLERANCE,
        what=TIMESTAMP_HEADER,
    )
    message = (
        delivery.method.upper().encode()
        + _signed_uri(delivery.url).encode()
        + delivery.body
        + timestamp.encode()
    )
    if not any_secret_matches(secrets, lambda secret: hmac_base64(secret, message), received):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match a live app secret")


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The v3 headers HubSpot sends for a POST of ``body`` to ``url`` at ``now``."""
    timestamp = str(int(now.timestamp() * 1000))
    message = b"POST" + _signed_uri(url).encode() + body + timestamp.encode()
    return Signed({SIGNATURE_HEADER: hmac_base64(secret, message), TIMESTAMP_HEADER: timestamp})


def _actor(event: Mapping[str, Any]) -> str | None:
    # sourceId is "userId:<n>" when a HubSpot user made the change; imports and
    # workflows carry other sources and no person.
    source_id = event.get("sourceId")
    if isinstance(source_id, str) and source_id.startswith("userId:"):
        user_id = source_id.removeprefix("userId:")
        if user_id:
            return f"hubspot:{user_id}"
    return None


def _stage_record(
    event: Mapping[str, Any],
    *,
    position: int,
    stages: list[str],
    won: list[str],
    lost: list[str],
    pipeline: str,
) -> Record:
    where = f"events[{position}]"
    event_id = identifier(event.get("eventId"), field=f"{where}.eventId")
    deal_id = identifier(event.get("objectId"), field=f"{where}.objectId")
    to_stage = event.get("propertyValue")
    if not isinstance(to_stage, str) or not to_stage:
        raise MappingError(f"{where}.propertyValue missing (the new dealstage)")
    occurred_at = epoch_ms_timestamp(event.get("occurredAt"), field=f"{where}.occurredAt")
    to_order = stages.index(to_stage) if to_stage in stages else None
    attributes: dict[str, Any] = {
        "to_stage": to_stage,
        "from_stage": None,
        "to_order": to_order,
        "from_order": None,
        # DESIGN.md names the order of the new stage stage_order.
        "stage_order": to_order,
        "won": to_stage in won,
        "lost": to_stage in lost,
        "pipeline": pipeline,
        "change_source": event.get("changeSource")
        if isinstance(event.get("changeSource"), str)
        else None,
        "portal_id": event.get("portalId") if isinstance(event.get("portalId"), int) else None,
    }
    record: Record = {
        "id": event_id,
        "type": "crm.opportunity.stage_changed",
        "occurred_at": occurred_at,
        "subject": f"hubspot:deal/{deal_id}",
        "refs": {"deal": [deal_id]},
        "attributes": attributes,
    }
    actor = _actor(event)
    if actor is not None:
        record["actor"] = actor
    return record


def _cancellation(stage_change: Record) -> Record:
    """The ``contract.cancelled`` a move into a cancelled stage also is."""
    deal_id = stage_change["refs"]["deal"][0]
    record: Record = {
        # One subscription event, two records: the kind joins the key.
        "id": f"{stage_change['id']}:cancelled",
        "type": "contract.cancelled",
        "occurred_at": stage_change["occurred_at"],
        "subject": stage_change["subject"],
        "refs": {"envelope": [f"hubspot:{deal_id}"], "deal": [deal_id]},
        "attributes": {"reason": stage_change["attributes"]["to_stage"]},
    }
    if "actor" in stage_change:
        record["actor"] = stage_change["actor"]
    return record


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """One ``crm.opportunity.stage_changed`` per dealstage change in the batch.

    Record ids are HubSpot's ``eventId``, which stays the same on every retry
    (``attemptNumber`` changes instead).
    """
    payload = load_json(delivery.body)
    if not isinstance(payload, list):
        raise MappingError("body is not a JSON array of subscription events")
    stages = config_strings(config, "stages", DEFAULT_STAGES, **_STAGE_LIST)
    won = config_strings(config, "won_stages", DEFAULT_WON_STAGES, **_STAGE_LIST)
    lost = config_strings(config, "lost_stages", DEFAULT_LOST_STAGES, **_STAGE_LIST)
    cancelled = config_strings(config, "cancelled_stages", (), **_STAGE_LIST)
    pipeline = config.get("pipeline", DEFAULT_PIPELINE)
    if not isinstance(pipeline, str):
        raise MappingError("source config pipeline must be a string")

    records: list[Record] = []
    skipped: dict[str, int] = {}
    for position, event in enumerate(payload):
        if not isinstance(event, Mapping):
            raise MappingError(f"events[{position}] is not an object")
        kind = event.get("subscriptionType")
        if not isinstance(kind, str) or not kind:
            raise MappingError(f"events[{position}].subscriptionType missing")
        if kind == "deal.propertyChange" and event.get("propertyName") == "dealstage":
            record = _stage_record(
                event, position=position, stages=stages, won=won, lost=lost, pipeline=pipeline
            )
            records.append(record)
            if record["attributes"]["to_stage"] in cancelled:
                records.append(_cancellation(record))
        else:
            label = kind
            if kind.endswith(".propertyChange") and isinstance(event.get("propertyName"), str):
                label = f"{kind}:{event['propertyName']}"
            skipped[label] = skipped.get(label, 0) + 1

    if records:
        return Mapped(events=records)
    if not skipped:
        return Mapped.ignore("no subscription events")
    summary = ", ".join(f"{count} {label}" for label, count in sorted(skipped.items()))
    return Mapped.ignore(f"events not used: {summary}")


VENDOR = register(
    Vendor(
        slug="hubspot",
        title="HubSpot",
        verify=verify,
        parse=parse,
        sign=sign,
        config_keys={
            "stages": ConfigKey("strings", "deal stage ids in pipeline order"),
            "won_stages": ConfigKey("strings", "stage ids that close a deal won"),
            "lost_stages": ConfigKey("strings", "stage ids that close a deal lost"),
            "pipeline": ConfigKey("string", "recorded as attributes.pipeline"),
            "cancelled_stages": ConfigKey(
                "strings", "stage ids that mean the signed contract was cancelled"
            ),
        },
    )
)
