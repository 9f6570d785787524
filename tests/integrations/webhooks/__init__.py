"""Shared by the webhook endpoint tests: sources with secrets, posting, reading back.

Deliveries go through ``POST /api/v1/hooks/<vendor>/<slug>`` with Django's test
client against the real database; signatures are computed here as each vendor
signs them (each registry entry's ``sign``), for the source's secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from django.test import Client

from integrations.models import DeadLetter, IgnoredDeliveries
from integrations.webhooks.base import Signed
from integrations.webhooks.registry import load_vendors
from ledger import secrets
from ledger.models import Source, TokenUsage, WorkEvent

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def signed(
    vendor: str, body: bytes, secret: str, *, now: datetime | None = None, url: str = ""
) -> Signed:
    """What the vendor sends to authenticate ``body``: its registry entry's ``sign``."""
    return load_vendors()[vendor].sign(body, secret, now=now or datetime.now(UTC), url=url)


def make_source(
    kind: str,
    slug: str,
    secret: str,
    *,
    previous: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Source:
    """A webhook source with ``secret`` live (and ``previous`` still live, rotating)."""
    source = Source.objects.create(kind=kind, slug=slug, name=slug, config=dict(config or {}))
    if previous is not None:
        secrets.source_set_secret(source=source, secret=previous)
        secrets.source_set_secret(
            source=source, secret=secret, keep_previous_for=timedelta(days=3650)
        )
    else:
        secrets.source_set_secret(source=source, secret=secret)
    return source


def post_hook(
    client: Client,
    vendor: str,
    slug: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    query: str = "",
    content_type: str = "application/json",
) -> Any:
    path = f"/api/v1/hooks/{vendor}/{slug}" + (f"?{query}" if query else "")
    return client.post(path, data=body, content_type=content_type, headers=dict(headers))


def events_of(source: Source) -> list[WorkEvent]:
    return list(WorkEvent.objects.filter(source=source).order_by("id"))


def usage_of(source: Source) -> list[TokenUsage]:
    return list(TokenUsage.objects.filter(source=source).order_by("id"))


def stored(source: Source) -> list[tuple[str, str]]:
    """(external id, type) of every event stored for the source, in arrival order."""
    return [(event.external_id, event.type) for event in events_of(source)]


def nothing_stored(source: Source) -> bool:
    return not events_of(source) and not usage_of(source)


def ignored_count(source: Source) -> int:
    return sum(row.count for row in IgnoredDeliveries.objects.filter(source=source))


def dead_letters(source: Source) -> list[DeadLetter]:
    return list(DeadLetter.objects.filter(source=source))


def answer(response: Any) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(response.content)
    return result


def statuses(response: Any) -> list[str]:
    body = answer(response)
    return [item["status"] for item in body.get("events", []) + body.get("usage", [])]
