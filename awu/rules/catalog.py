"""The canonical work event types, with an example of each.

docs/events.md documents the same set in prose; a test keeps the two in step.
The examples double as the sample events that rule expressions are tried
against when a definition is saved (see :mod:`awu.rules.cel`), so every
documented attribute appears here with a value of its documented type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from awu.rules.spec import Event


@dataclass(frozen=True, slots=True)
class EventType:
    """One canonical type: example refs and attributes, and the ref kinds every
    event of the type must carry (the others in ``refs`` are optional)."""

    type: str
    refs: Mapping[str, tuple[str, ...]]
    attributes: Mapping[str, Any] = field(default_factory=dict)
    required_refs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.required_refs:
            object.__setattr__(self, "required_refs", tuple(self.refs))


_AI = {"assisted": True, "share": 0.7, "agent": "claude-code"}

EVENT_TYPES: dict[str, EventType] = {
    t.type: t
    for t in (
        EventType(
            "code.pr.merged",
            refs={"pr": ("acme/api#123",), "commit": ("9f1c2e7", "4b8d0a1")},
            attributes={
                "base_branch": "main",
                "default_branch": "main",
                "draft": False,
                "merged": True,
                "additions": 120,
                "deletions": 14,
            },
        ),
        EventType(
            "code.reverted",
            refs={"commit": ("9f1c2e7",), "pr": ("acme/api#123",)},
            required_refs=("commit",),
        ),
        EventType(
            "deploy.succeeded",
            refs={"deploy": ("4711",), "commit": ("9f1c2e7",)},
            attributes={"environment": "production", "service": "acme/api"},
        ),
        EventType(
            "deploy.failed",
            refs={"deploy": ("4712",), "commit": ("9f1c2e7",)},
            attributes={"environment": "production"},
            required_refs=("deploy",),
        ),
        EventType(
            "deploy.rolled_back",
            refs={"deploy": ("4711",), "commit": ("9f1c2e7",)},
            attributes={"environment": "production"},
            required_refs=("deploy",),
        ),
        EventType(
            "incident.opened",
            refs={"incident": ("P1234",)},
            attributes={"severity": "SEV2", "service": "acme/api", "service_id": "PF9KMXH"},
        ),
        EventType(
            "incident.resolved", refs={"incident": ("P1234",)}, attributes={"severity": "SEV2"}
        ),
        EventType(
            "incident.attributed",
            refs={"incident": ("P1234",), "deploy": ("4711",), "commit": ("9f1c2e7",)},
            required_refs=("incident",),
        ),
        EventType(
            "crm.opportunity.stage_changed",
            refs={"deal": ("hubspot:9876",)},
            attributes={
                "from_stage": "qualifiedtobuy",
                "to_stage": "presentationscheduled",
                "from_order": 2,
                "to_order": 3,
                "won": False,
                "lost": False,
            },
        ),
        EventType(
            "code.review.requested",
            refs={"pr": ("acme/api#123",), "commit": ("4b8d0a1",)},
            attributes={"reviewer": "octocat"},
            required_refs=("pr",),
        ),
        EventType(
            "code.review.submitted",
            refs={"pr": ("acme/api#123",), "commit": ("4b8d0a1",)},
            attributes={"reviewer": "octocat", "state": "approved"},
            required_refs=("pr",),
        ),
        EventType(
            "issue.bug_reported",
            refs={"issue": ("github:acme/api#130",), "pr": ("acme/api#123",)},
            attributes={"labels": ["bug"]},
            required_refs=("issue",),
        ),
        EventType("contract.signed", refs={"envelope": ("docusign:envelope/abc",)}),
        EventType(
            "contract.cancelled",
            refs={"envelope": ("docusign:envelope/abc",)},
            attributes={"reason": "voided"},
        ),
        EventType("ticket.resolved", refs={"ticket": ("zendesk:35436",)}),
        EventType("ticket.reopened", refs={"ticket": ("zendesk:35436",)}),
        EventType(
            "content.published",
            refs={"content": ("blog/durable-changes",)},
            attributes={"url": "https://example.com/blog/durable-changes"},
        ),
        EventType(
            "content.traffic",
            refs={"content": ("blog/durable-changes",)},
            attributes={"url": "https://example.com/blog/durable-changes", "visits": 420},
        ),
        EventType(
            "content.unpublished",
            refs={"content": ("blog/durable-changes",)},
            attributes={"url": "https://example.com/blog/durable-changes", "reason": "retracted"},
        ),
    )
}

_SAMPLE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def sample_event(event_type: str, *, event_id: int = 1) -> Event:
    """A fully populated example of ``event_type`` (empty attributes for custom types)."""
    known = EVENT_TYPES.get(event_type)
    return Event(
        id=event_id,
        type=event_type,
        occurred_at=_SAMPLE_TIME,
        refs=dict(known.refs) if known else {},
        attributes=dict(known.attributes) if known else {},
        actor="alice@example.com",
        person_id=1,
        team_id=1,
        subject="github:acme/api#123",
        ai=_AI,
    )
