"""Sources: who emits records. API clients register theirs on first use."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from django.db import connection

from ledger.models import Source

API_KIND = "api"

_lock = threading.Lock()
# slug -> id for API sources. Sources are never deleted, so the memo never goes stale.
_api_ids: dict[str, int] = {}


def api_source_ids(slugs: Iterable[str]) -> dict[str, int]:
    """Ids of the API sources with these slugs, creating the missing ones.

    One query at most per batch, and none once a process has seen the slugs.
    """
    wanted = set(slugs)
    with _lock:
        known = {slug: _api_ids[slug] for slug in wanted if slug in _api_ids}
    missing = sorted(wanted - known.keys())
    if missing:
        with connection.cursor() as cursor:
            # ON CONFLICT DO UPDATE (a no-op write) so RETURNING yields existing rows too;
            # sorted slugs keep concurrent registrations from deadlocking.
            cursor.execute(
                """
                INSERT INTO ledger_source (kind, slug, name, secret_encrypted,
                    previous_secret_encrypted, config, enabled, created_at)
                SELECT %s, slug, slug, '', '', '{}'::jsonb, true, now()
                FROM unnest(%s::text[]) AS slug
                ON CONFLICT (kind, slug) DO UPDATE SET kind = EXCLUDED.kind
                RETURNING slug, id
                """,
                [API_KIND, missing],
            )
            found = dict(cursor.fetchall())
        with _lock:
            _api_ids.update(found)
        known.update(found)
    return known


def forget_cached_sources() -> None:
    with _lock:
        _api_ids.clear()


def source_for_hook(*, kind: str, slug: str) -> Source | None:
    return Source.objects.filter(kind=kind, slug=slug).first()
