"""Small factories for engine tests: events at day offsets from a fixed start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from awu.rules.spec import Event

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def ev(
    event_id: int,
    event_type: str,
    at: float,
    refs: dict[str, list[str] | tuple[str, ...]] | None = None,
    actor: str | None = "alice@example.com",
    **attributes: Any,
) -> Event:
    """An event ``at`` days after START."""
    return Event(
        id=event_id,
        type=event_type,
        occurred_at=day(at),
        refs={k: tuple(v) for k, v in (refs or {}).items()},
        attributes=attributes,
        actor=actor,
        person_id=7,
        team_id=3,
        subject=f"test:{event_type}/{event_id}",
        ai=None,
    )


def merged(event_id: int, at: float, pr: str, commits: list[str], **attributes: Any) -> Event:
    attrs = {"base_branch": "main", "default_branch": "main", "draft": False, "merged": True}
    attrs.update(attributes)
    return ev(event_id, "code.pr.merged", at, {"pr": [pr], "commit": commits}, **attrs)


def deployed(event_id: int, at: float, deploy: str, commits: list[str], **attributes: Any) -> Event:
    attrs = {"environment": "production", **attributes}
    return ev(event_id, "deploy.succeeded", at, {"deploy": [deploy], "commit": commits}, **attrs)
