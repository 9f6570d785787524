"""PagerDuty V3 webhooks: incidents opened and resolved, and what caused them.

What becomes what:

* ``incident.triggered`` -> ``incident.opened``; ``incident.resolved`` ->
  ``incident.resolved`` (refs ``incident`` = the incident id; attributes severity
  (the priority name, else the urgency), urgency, priority, service).
* Attribution convention: text naming the change that caused the incident, as
  ``key: value`` pairs anywhere in the text (case-insensitive)::

      caused-by: <commit sha | owner/repo#123 | group/project!45>
      commit: <sha>
      deploy: <deploy id>
      pr: <owner/repo#123 | group/project!45>

  It is read from the title of a triggered incident, from a note
  (``incident.annotated``) and from a status update
  (``incident.status_update_published``). Each such text that names at least one
  change yields ``incident.attributed`` with refs ``incident`` plus the named
  ``commit`` / ``deploy`` / ``pr``. Commits link to other events only by the exact
  value, so name full 40-character SHAs.
* Every other event type is ignored.

Authentication: ``X-PagerDuty-Signature`` holds one or more comma-separated
``v1=<hex HMAC-SHA256 of the raw body>`` (several while PagerDuty rotates its
signing secret). The delivery passes when any v1 signature matches any live secret.
PagerDuty signs no timestamp; ``event.id`` is the idempotency key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
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
from integrations.webhooks.payload import (
    dig,
    opt_str,
    req_str,
    required_header,
    utc_timestamp,
    without_nulls,
)

SIGNATURE_HEADER = "X-PagerDuty-Signature"

_ATTRIBUTION = re.compile(
    r"(?<![\w-])(?P<key>caused[- ]by|commit|deploy(?:ment)?|pr)\s*[:=]\s*(?P<value>[^\s,;]+)",
    re.IGNORECASE,
)
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_PR = re.compile(r"^[\w.-]+(?:/[\w.-]+)+[#!][0-9]+$")
_DEPLOY = re.compile(r"^#?(?P<id>[\w.-]+)$")
_TRAILING = ".)]>'\""

# Events whose text may carry an attribution, and where the text is.
_TEXT_OF = {
    "incident.triggered": ("title",),
    "incident.annotated": ("content",),
    "incident.status_update_published": ("message",),
}


def attributions(text: str) -> dict[str, list[str]]:
    """The ``commit`` / ``deploy`` / ``pr`` refs a text names by the convention above."""
    refs: dict[str, list[str]] = {}

    def add(kind: str, value: str) -> None:
        values = refs.setdefault(kind, [])
        if value not in values:
            values.append(value)

    for match in _ATTRIBUTION.finditer(text):
        key = match.group("key").lower().replace(" ", "-")
        value = match.group("value").rstrip(_TRAILING)
        if key in ("caused-by", "commit") and _SHA.match(value):
            add("commit", value.lower())
        elif key in ("caused-by", "pr") and _PR.match(value):
            add("pr", value)
        elif key.startswith("deploy") and (deploy := _DEPLOY.match(value)):
            add("deploy", deploy.group("id"))
    return refs


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass when any ``v1=`` signature in the header matches any live secret."""
    header = required_header(delivery.headers, SIGNATURE_HEADER, strip=False)
    received = [
        part.strip()[len("v1=") :] for part in header.split(",") if part.strip().startswith("v1=")
    ]
    if not received:
        raise SignatureError(f"{SIGNATURE_HEADER} has no v1 signature")
    if not any_secret_matches(secrets, lambda secret: hmac_hex(secret, delivery.body), received):
        raise SignatureError(f"no {SIGNATURE_HEADER} v1 signature matches a live secret")


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The signature header PagerDuty sends for one signing secret (while it
    rotates it sends one ``v1=`` per secret, comma-separated)."""
    return Signed({SIGNATURE_HEADER: "v1=" + hmac_hex(secret, body)})


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Map one PagerDuty V3 delivery to canonical records (see the module docstring)."""
    payload = load_json(delivery.body)
    event = dig(payload, "event")
    if not isinstance(event, Mapping):
        raise MappingError("event missing")
    event_type = req_str(payload, "event", "event_type")
    if event_type not in ("incident.triggered", "incident.resolved") and (
        event_type not in _TEXT_OF
    ):
        return Mapped.ignore(f"event {event_type} not used")
    event_id = req_str(payload, "event", "id")
    occurred_at = utc_timestamp(dig(event, "occurred_at"), field="event.occurred_at")
    data = dig(event, "data")
    if not isinstance(data, Mapping):
        raise MappingError("event.data missing")
    actor = _actor(event)

    records: list[Record] = []
    if event_type in ("incident.triggered", "incident.resolved"):
        incident_id = req_str(payload, "event", "data", "id")
        records.append(
            _with_actor(
                {
                    "id": event_id,
                    "type": "incident.opened"
                    if event_type == "incident.triggered"
                    else "incident.resolved",
                    "occurred_at": occurred_at,
                    "subject": f"pagerduty:incident/{incident_id}",
                    "refs": {"incident": [incident_id]},
                    "attributes": _incident_attributes(data),
                },
                actor,
            )
        )
    else:
        incident_id = req_str(payload, "event", "data", "incident", "id")

    text_fields = _TEXT_OF.get(event_type, ())
    text = "\n".join(t for f in text_fields if (t := opt_str(data, f)))
    named = attributions(text)
    if named:
        records.append(
            _with_actor(
                {
                    # A triggered incident yields two records, so the kind joins the key.
                    "id": f"{event_id}:attributed" if records else event_id,
                    "type": "incident.attributed",
                    "occurred_at": occurred_at,
                    "subject": f"pagerduty:incident/{incident_id}",
                    "refs": {"incident": [incident_id], **named},
                    "attributes": {"via": event_type, "text": text[:1000]},
                },
                actor,
            )
        )
    if not records:
        return Mapped.ignore(f"{event_type} names no change")
    return without_nulls(Mapped(events=records))


def _actor(event: Mapping[str, Any]) -> str | None:
    agent_id = opt_str(event, "agent", "id")
    return f"pagerduty:{agent_id}" if agent_id else None


def _with_actor(record: Record, actor: str | None) -> Record:
    if actor:
        record["actor"] = actor
    return record


def _incident_attributes(data: Mapping[str, Any]) -> dict[str, Any]:
    priority = opt_str(data, "priority", "summary")
    urgency = opt_str(data, "urgency")
    return {
        "severity": priority or urgency,
        "urgency": urgency,
        "priority": priority,
        "service": opt_str(data, "service", "summary"),
        "service_id": opt_str(data, "service", "id"),
        "title": opt_str(data, "title"),
        "number": dig(data, "number") if isinstance(dig(data, "number"), int) else None,
        "status": opt_str(data, "status"),
        "teams": [
            team["summary"]
            for team in (dig(data, "teams") if isinstance(dig(data, "teams"), list) else [])
            if isinstance(team, Mapping) and isinstance(team.get("summary"), str)
        ],
    }


VENDOR = register(
    Vendor(slug="pagerduty", title="PagerDuty", verify=verify, parse=parse, sign=sign)
)
