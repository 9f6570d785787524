"""Salesforce outbound messages: an Opportunity moving between stages, and
contracts cancelled.

Mechanism: outbound messages (SOAP ``notifications``), sent by a record-triggered
Flow or a workflow rule on Opportunity when ``StageName`` changes. They need no
code in the Salesforce org, Salesforce retries them for up to 24 hours until the
endpoint answers with a SOAP ``<Ack>true</Ack>`` (``acknowledge`` below), and each
notification carries an ``Id`` that stays the same across those retries, which is
the idempotency key. Why this over a Flow HTTP callout is in
docs/integrations/salesforce.md.

An outbound message carries the record as it is *now*, so the previous stage is
only known when the org copies it into a field included in the message (the
field named by config ``previous_stage_field``, default ``AWU_Previous_Stage__c``,
set from ``$Record__Prior.StageName`` by a before-save Flow). Stage order and
outcome come from config ``stages`` / ``won_stages`` / ``lost_stages`` (default:
Salesforce's standard Opportunity stage picklist); ``IsWon`` / ``IsClosed``, when
included, take precedence for won / lost.

Authentication: outbound messages cannot sign or add headers, so the endpoint URL
carries a secret token (``?token=<secret>``), compared in constant time with the
live secrets; ``parse`` also refuses a message whose ``OrganizationId`` is not the
configured ``organization_id``.

Cancellation: a Contract notification whose ``Status`` is one of config
``cancelled_statuses`` (default ``Cancelled``, ``Terminated``), or an Opportunity
notification whose ``StageName`` is one of them, is also a ``contract.cancelled``
(``reason`` = the status). It must carry the refs of the signature it undoes:
``envelope`` = the DocuSign envelope id the record holds in the field named by
config ``envelope_field`` (default ``AWU_Envelope_Id__c``; the DocuSign for
Salesforce package keeps it in ``dsfs__DocuSign_Envelope_ID__c``), plus
``salesforce:<record Id>`` for signatures posted under that key. A Contract
notification in any other status is ignored.

The body is untrusted XML: any DOCTYPE (and with it any entity declaration) is
refused before parsing, which closes entity-expansion and external-entity attacks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from integrations.webhooks.base import (
    ConfigKey,
    Delivery,
    Mapped,
    MappingError,
    Record,
    Response,
    SignatureError,
    Signed,
    Vendor,
    any_secret_matches,
    register,
)
from integrations.webhooks.payload import config_strings, utc_timestamp

AUTH_QUERY_PARAMETER = "token"

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

# Salesforce's standard Opportunity StageName picklist, in order.
DEFAULT_STAGES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
DEFAULT_WON_STAGES: tuple[str, ...] = ("Closed Won",)
DEFAULT_LOST_STAGES: tuple[str, ...] = ("Closed Lost",)
DEFAULT_PREVIOUS_STAGE_FIELD = "AWU_Previous_Stage__c"
DEFAULT_PIPELINE = "default"
DEFAULT_CANCELLED_STATUSES: tuple[str, ...] = ("Cancelled", "Terminated")
DEFAULT_ENVELOPE_FIELD = "AWU_Envelope_Id__c"
# How this source has always worded and checked its stage lists.
_STAGE_LIST: dict[str, Any] = {"what": "stage names", "quote_key": False, "allow_tuple": False}

_FORBIDDEN_MARKUP = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(r"""^\ufeff?\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']""")

ACK_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack>"
    b"</notificationsResponse>"
    b"</soapenv:Body>"
    b"</soapenv:Envelope>"
)


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass when the ``token`` query parameter equals a live secret (constant time)."""
    query = parse_qs(urlsplit(delivery.url).query)
    tokens = query.get(AUTH_QUERY_PARAMETER)
    if not tokens or not tokens[0]:
        raise SignatureError(
            f"{AUTH_QUERY_PARAMETER} query parameter missing from the endpoint URL"
        )
    if len(tokens) > 1:
        raise SignatureError(f"{AUTH_QUERY_PARAMETER} query parameter given more than once")
    if not any_secret_matches(secrets, lambda secret: secret, tokens[0]):
        raise SignatureError(f"{AUTH_QUERY_PARAMETER} does not match a live secret")


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """Outbound messages are not signed: the shared token is in the endpoint URL."""
    return Signed({}, query=urlencode({AUTH_QUERY_PARAMETER: secret}))


def acknowledge(mapped: Mapped) -> Response:
    """The SOAP answer that stops Salesforce from retrying the message."""
    return Response(status=200, body=ACK_BODY, content_type="text/xml; charset=utf-8")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(body: bytes) -> ET.Element:
    # The DOCTYPE check only holds if the parser reads the same characters we
    # searched: insist on UTF-8 (what Salesforce sends), so no UTF-16 or
    # single-byte declared encoding can hide a DOCTYPE from the search.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError("body is not UTF-8 XML") from exc
    if "\x00" in text:
        raise MappingError("body is not UTF-8 XML")
    declared = _DECLARED_ENCODING.match(text)
    if declared and declared.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise MappingError(f"XML encoding {declared.group(1)} refused (UTF-8 only)")
    if _FORBIDDEN_MARKUP.search(text):
        raise MappingError("XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        return ET.fromstring(body)  # noqa: S314 - DOCTYPE refused above, so no entities
    except ET.ParseError as exc:
        raise MappingError(f"body is not well-formed XML: {exc}") from exc


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            text = (child.text or "").strip()
            return text or None
    return None


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() == "true"


def _config_text(config: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = config.get(key, default)
    if value is not None and not isinstance(value, str):
        raise MappingError(f"source config {key} must be a string")
    return value


def _notifications(root: ET.Element) -> ET.Element:
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise MappingError("body is not a SOAP envelope")
    body = root.find(f"{{{SOAP_NS}}}Body")
    if body is None:
        raise MappingError("soapenv:Body missing")
    notifications = body.find(f"{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise MappingError("notifications missing (is this an outbound message?)")
    return notifications


def _sobject_type(sobject: ET.Element) -> str:
    declared = sobject.get(XSI_TYPE) or ""
    return declared.rsplit(":", 1)[-1]


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """One ``crm.opportunity.stage_changed`` per Opportunity notification.

    Record ids are the notification ``Id``, which Salesforce keeps on every retry.
    Required sObject fields: ``Id``, ``StageName``, ``LastModifiedDate``.
    """
    notifications = _notifications(_parse_xml(delivery.body))

    organization_id = _child_text(notifications, "OrganizationId")
    expected_org = _config_text(config, "organization_id", None)
    if organization_id is None:
        raise MappingError("notifications.OrganizationId missing")
    # Salesforce shows 15- or 18-character org ids; the first 15 identify the org.
    if expected_org is None:
        raise MappingError("source config organization_id is not set")
    if organization_id[:15] != expected_org[:15]:
        raise MappingError(
            f"OrganizationId {organization_id} is not the configured organization_id"
        )

    stages = config_strings(config, "stages", DEFAULT_STAGES, **_STAGE_LIST)
    won_stages = config_strings(config, "won_stages", DEFAULT_WON_STAGES, **_STAGE_LIST)
    lost_stages = config_strings(config, "lost_stages", DEFAULT_LOST_STAGES, **_STAGE_LIST)
    previous_field = _config_text(config, "previous_stage_field", DEFAULT_PREVIOUS_STAGE_FIELD)
    pipeline = _config_text(config, "pipeline", DEFAULT_PIPELINE)
    cancelled = config_strings(
        config, "cancelled_statuses", DEFAULT_CANCELLED_STATUSES, **_STAGE_LIST
    )
    envelope_field = _config_text(config, "envelope_field", DEFAULT_ENVELOPE_FIELD)

    records: list[Record] = []
    skipped: dict[str, int] = {}
    items = [child for child in notifications if _local(child.tag) == "Notification"]
    for position, notification in enumerate(items):
        where = f"Notification[{position}]"
        sobject = next((c for c in notification if _local(c.tag) == "sObject"), None)
        if sobject is None:
            raise MappingError(f"{where}.sObject missing")
        kind = _sobject_type(sobject)
        if kind == "Contract":
            status = _child_text(sobject, "Status")
            if status not in cancelled:
                skipped["Contract not cancelled"] = skipped.get("Contract not cancelled", 0) + 1
                continue
            records.append(_cancellation(notification, sobject, where, str(status), envelope_field))
            continue
        if kind != "Opportunity":
            label = kind or "untyped sObject"
            skipped[label] = skipped.get(label, 0) + 1
            continue
        notification_id = _child_text(notification, "Id")
        if notification_id is None:
            raise MappingError(f"{where}.Id missing")
        opportunity_id = _child_text(sobject, "Id")
        if opportunity_id is None:
            raise MappingError(f"{where}.sObject.Id missing")
        to_stage = _child_text(sobject, "StageName")
        if to_stage is None:
            raise MappingError(f"{where}.sObject.StageName missing (add it to the message)")
        occurred_at = utc_timestamp(
            _child_text(sobject, "LastModifiedDate"), field=f"{where}.sObject.LastModifiedDate"
        )
        from_stage = _child_text(sobject, previous_field) if previous_field else None
        is_won = _flag(_child_text(sobject, "IsWon"))
        is_closed = _flag(_child_text(sobject, "IsClosed"))
        won = is_won if is_won is not None else to_stage in won_stages
        if is_closed is not None and is_won is not None:
            lost = is_closed and not is_won
        else:
            lost = to_stage in lost_stages
        to_order = stages.index(to_stage) if to_stage in stages else None
        from_order = stages.index(from_stage) if from_stage in stages else None
        record: Record = {
            "id": notification_id,
            "type": "crm.opportunity.stage_changed",
            "occurred_at": occurred_at,
            "subject": f"salesforce:opportunity/{opportunity_id}",
            "refs": {"deal": [opportunity_id]},
            "attributes": {
                "to_stage": to_stage,
                "from_stage": from_stage,
                "to_order": to_order,
                "from_order": from_order,
                "stage_order": to_order,
                "won": won,
                "lost": lost,
                "pipeline": pipeline,
                "organization_id": organization_id,
                "opportunity_name": _child_text(sobject, "Name"),
            },
        }
        modified_by = _child_text(sobject, "LastModifiedById")
        if modified_by is not None:
            record["actor"] = f"salesforce:{modified_by}"
        records.append(record)
        if to_stage in cancelled:
            cancellation = _cancellation(notification, sobject, where, to_stage, envelope_field)
            # One notification, two records: the kind joins the key.
            cancellation["id"] = f"{notification_id}:cancelled"
            records.append(cancellation)

    if records:
        return Mapped(events=records)
    if not skipped:
        return Mapped.ignore("no notifications")
    summary = ", ".join(f"{count} {label}" for label, count in sorted(skipped.items()))
    return Mapped.ignore(f"sObjects not used: {summary}")


def _cancellation(
    notification: ET.Element,
    sobject: ET.Element,
    where: str,
    status: str,
    envelope_field: str | None,
) -> Record:
    """A ``contract.cancelled`` for a Contract or Opportunity notification."""
    notification_id = _child_text(notification, "Id")
    if notification_id is None:
        raise MappingError(f"{where}.Id missing")
    record_id = _child_text(sobject, "Id")
    if record_id is None:
        raise MappingError(f"{where}.sObject.Id missing")
    occurred_at = utc_timestamp(
        _child_text(sobject, "LastModifiedDate"), field=f"{where}.sObject.LastModifiedDate"
    )
    envelope = _child_text(sobject, envelope_field) if envelope_field else None
    kind = _sobject_type(sobject).lower()
    record: Record = {
        "id": notification_id,
        "type": "contract.cancelled",
        "occurred_at": occurred_at,
        "subject": f"salesforce:{kind}/{record_id}",
        "refs": {"envelope": [v for v in (envelope, f"salesforce:{record_id}") if v]},
        "attributes": {"reason": status, "record_type": _sobject_type(sobject)},
    }
    modified_by = _child_text(sobject, "LastModifiedById")
    if modified_by is not None:
        record["actor"] = f"salesforce:{modified_by}"
    return record


VENDOR = register(
    Vendor(
        slug="salesforce",
        title="Salesforce",
        verify=verify,
        parse=parse,
        sign=sign,
        acknowledge=acknowledge,
        config_keys={
            "organization_id": ConfigKey("string", "your org id; other orgs are refused"),
            "stages": ConfigKey("strings", "StageName values in pipeline order"),
            "won_stages": ConfigKey("strings", "stages that close won, when IsWon is absent"),
            "lost_stages": ConfigKey("strings", "stages that close lost, when IsWon is absent"),
            "previous_stage_field": ConfigKey("string", "the field holding the prior stage"),
            "pipeline": ConfigKey("string", "recorded as attributes.pipeline"),
            "cancelled_statuses": ConfigKey(
                "strings", "Contract Status / Opportunity StageName values that cancel"
            ),
            "envelope_field": ConfigKey("string", "the field holding the signature's envelope id"),
        },
    )
)
