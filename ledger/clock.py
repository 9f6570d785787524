"""The one clock. Time-based rules read the current time from here and nowhere else.

``AWU_NOW`` (RFC 3339, with an offset) pins it for demos and tests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings


def now() -> datetime:
    pinned = getattr(settings, "AWU_NOW", "")
    if pinned:
        value = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise ValueError("AWU_NOW needs a UTC offset, e.g. 2026-11-01T12:00:00Z")
        return value.astimezone(UTC)
    return datetime.now(UTC)
