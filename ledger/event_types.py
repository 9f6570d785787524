"""The canonical work event types (docs/events.md). Anything else must be ``x.<name>``."""

from __future__ import annotations

CANONICAL_TYPES: frozenset[str] = frozenset(
    {
        "code.pr.merged",
        "code.reverted",
        "code.review.requested",
        "code.review.submitted",
        "issue.bug_reported",
        "deploy.succeeded",
        "deploy.failed",
        "deploy.rolled_back",
        "incident.opened",
        "incident.resolved",
        "incident.attributed",
        "crm.opportunity.stage_changed",
        "contract.signed",
        "contract.cancelled",
        "ticket.resolved",
        "ticket.reopened",
        "content.published",
        "content.traffic",
        "content.unpublished",
    }
)


def is_known_type(event_type: str) -> bool:
    return event_type in CANONICAL_TYPES or event_type.startswith("x.")
