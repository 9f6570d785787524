"""Test set-up: real PostgreSQL (DATABASE_URL, or the embedded server), real HTTP.

The environment defaults (AWU_ENV=test, the data directory) are set by the
awu.testing.pytest_env plugin, which runs before Django is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.test import Client

from ledger import auth, sources, teams
from ledger.pricing.book import forget_cached_book

# The real SMTP server and HTTP receiver (fixtures `smtp`, `receiver`) for the tests of
# what the service sends, in process and end to end.
pytest_plugins = ["tests.awu.alerts.receivers"]


class Api:
    """A thin JSON client over Django's test client, with a bearer key."""

    def __init__(self, client: Client, key: str | None) -> None:
        self.client = client
        self.key = key

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.key}"} if self.key else {}
        headers.update(extra or {})
        return headers

    def post(
        self, path: str, body: Any, *, content_type: str = "application/json", **extra: str
    ) -> Any:
        data = body if isinstance(body, bytes | str) else orjson.dumps(body)
        return self.client.post(path, data=data, content_type=content_type, **self._headers(extra))

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: str) -> Any:
        return self.client.get(path, params or {}, **self._headers(extra))

    def patch(self, path: str, body: Any, **extra: str) -> Any:
        data = body if isinstance(body, bytes | str) else orjson.dumps(body)
        return self.client.patch(
            path, data=data, content_type="application/json", **self._headers(extra)
        )

    def delete(self, path: str, **extra: str) -> Any:
        return self.client.delete(path, **self._headers(extra))


def forget_process_caches() -> None:
    """Per-process memos (sources, teams, price book, keys) must not leak between
    tests whose transactions were rolled back, nor into data a module fixture
    commits."""
    sources.forget_cached_sources()
    teams.forget_known_teams()
    forget_cached_book()
    auth._cache.clear()


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> None:
    forget_process_caches()


@pytest.fixture
def make_key(db: None) -> Callable[..., str]:
    def make(*scopes: str, name: str = "test") -> str:
        _, key = auth.api_key_create(name=name, scopes=list(scopes))
        return key

    return make


@pytest.fixture
def api(client: Client, make_key: Callable[..., str]) -> Callable[..., Api]:
    """api("events:write") -> a client holding a key with those scopes; api() has none."""

    def build(*scopes: str) -> Api:
        return Api(client, make_key(*scopes) if scopes else None)

    return build


SHIPPED_DOMAINS = ("engineering", "sales", "legal", "support", "marketing")


def approval_off(*domains: str) -> None:
    """Publish and rescore in ``domains`` (default: the shipped ones) without four eyes,
    for tests about publishing and rescoring themselves (the approval flow is
    tested in tests/awu/definitions/test_four_eyes.py)."""
    from awu.definitions.models import ApprovalPolicy

    for domain in domains or SHIPPED_DOMAINS:
        ApprovalPolicy.objects.update_or_create(domain=domain, defaults={"required": False})
