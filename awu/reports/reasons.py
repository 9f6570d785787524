"""Why a unit is where it is, in words built from its evidence.

The engine records a terse reason ("voided by crm.opportunity.stage_changed
(event 812)"); a leader reads "the deal moved back from Negotiation to
Qualification on 4 Nov (HubSpot)". Pure functions over an event's plain
fields: no query here, the caller passes the events it already loaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_VOIDED = re.compile(r"^voided by (\S+) \(event (\d+)\)$")
_WINDOW = re.compile(r"^survival window open until (\S+)$")
_WAITING = re.compile(r"^waiting for (\S+)$")
_NOT_SEEN = re.compile(r"^(\S+) not seen by (\S+)$")

# How vendors spell themselves (a source kind not listed is shown as stored).
VENDORS = {
    "github": "GitHub",
    "gitlab": "GitLab",
    "pagerduty": "PagerDuty",
    "jira": "Jira",
    "linear": "Linear",
    "docusign": "DocuSign",
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "zendesk": "Zendesk",
    "api": "the API",
    "otlp": "OpenTelemetry",
}


@dataclass(frozen=True)
class EventFacts:
    """What a reason needs of an event."""

    type: str
    occurred_at: datetime
    attributes: Mapping[str, Any]
    source_kind: str


def day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def _stage(attributes: Mapping[str, Any], key: str) -> str:
    return str(attributes.get(key) or "an unknown stage")


def _deal(a: Mapping[str, Any]) -> str:
    if a.get("lost"):
        return f"the deal was lost (from {_stage(a, 'from_stage')})"
    return f"the deal moved back from {_stage(a, 'from_stage')} to {_stage(a, 'to_stage')}"


def _incident(a: Mapping[str, Any]) -> str:
    severity = a.get("severity")
    return f"a{' ' + str(severity) if severity else 'n'} incident was traced to it"


def _cancelled(a: Mapping[str, Any]) -> str:
    reason = a.get("reason")
    return "the contract was cancelled" + (f" ({reason})" if reason else "")


_WHAT: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "code.reverted": lambda a: "the change was reverted",
    "deploy.rolled_back": lambda a: (
        "the deploy was rolled back" + (f" in {a['environment']}" if a.get("environment") else "")
    ),
    "deploy.failed": lambda a: "the deploy failed",
    "incident.attributed": _incident,
    "incident.opened": _incident,
    "crm.opportunity.stage_changed": _deal,
    "contract.cancelled": _cancelled,
    "ticket.reopened": lambda a: "the ticket was reopened",
    "content.unpublished": lambda a: "the content was unpublished",
}


def type_words(event_type: str) -> str:
    """What an event of ``event_type`` did to a unit, without its details."""
    if event_type == "crm.opportunity.stage_changed":
        return "the deal moved back a stage"
    what = _WHAT.get(event_type)
    return what({}) if what is not None else event_type


def event_words(event: EventFacts) -> str:
    """One event as a clause: what happened, on which day, from which tool."""
    what = _WHAT.get(event.type, lambda a: f"{event.type} happened")(event.attributes)
    vendor = VENDORS.get(event.source_kind, event.source_kind)
    return f"{what} on {day(event.occurred_at)} ({vendor})"


def _when(iso: str) -> str:
    try:
        return day(datetime.fromisoformat(iso.replace("Z", "+00:00")))
    except ValueError:
        return iso


def reason_words(reason: str | None, events: Mapping[int, EventFacts]) -> str | None:
    """``reason`` (the engine's) in words, reading the disqualifying event from
    ``events`` by id; a reason of another shape, or whose event is missing, is
    returned as it is."""
    if not reason:
        return reason
    if match := _VOIDED.match(reason):
        event = events.get(int(match.group(2)))
        if event is None:
            return f"voided: {match.group(1)}"
        words = event_words(event)
        return words[0].upper() + words[1:]
    if match := _WINDOW.match(reason):
        return f"Maturing: counts once it survives to {_when(match.group(1))}"
    if match := _WAITING.match(reason):
        return f"Waiting for {match.group(1)}"
    if match := _NOT_SEEN.match(reason):
        return f"Expired: no {match.group(1)} by {_when(match.group(2))}"
    return reason


def disqualifier_id(reason: str | None) -> int | None:
    """The id of the event that voided a unit, read from the engine's reason."""
    match = _VOIDED.match(reason or "")
    return int(match.group(2)) if match else None
