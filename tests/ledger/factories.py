"""Factory functions for wire-format records, and small helpers to read the ledger back.

Every call returns a fresh, valid record with a unique ``id``; keyword arguments
replace fields and :func:`without` drops some. Times sit before :data:`NOW`, the
instant the tests pin the clock to.
"""

from __future__ import annotations

import itertools
from typing import Any

NOW = "2026-11-23T12:00:00Z"

_ids = itertools.count(1)


def _build(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    return {**base, **overrides}


def event(**overrides: Any) -> dict[str, Any]:
    """A deploy.succeeded event as in DESIGN.md's wire format."""
    base: dict[str, Any] = {
        "source": "deploy-bot",
        "id": f"deploy-{next(_ids)}",
        "type": "deploy.succeeded",
        "occurred_at": "2026-11-01T12:00:00Z",
        "actor": "alice@example.com",
        "team": "payments",
        "subject": "github:acme/api",
        "refs": {"commit": ["9f1c2e7"], "deploy": ["4711"]},
        "ai": {"assisted": True, "share": 0.7, "agent": "claude-code"},
        "attributes": {"environment": "production"},
    }
    return _build(base, overrides)


def usage(**overrides: Any) -> dict[str, Any]:
    """A per-request token-usage record as in DESIGN.md's wire format."""
    base: dict[str, Any] = {
        "source": "llm-gateway",
        "id": f"req-{next(_ids)}",
        "occurred_at": "2026-11-01T12:00:03Z",
        "actor": "alice@example.com",
        "provider": "anthropic",
        "model": "claude-opus-4-5",
        "input_tokens": 12000,
        "output_tokens": 1800,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 40000,
        "cost_usd": None,
        "refs": {"session": ["cc-5f2a"], "pr": ["acme/api#123"]},
    }
    return _build(base, overrides)


def without(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """The record minus some fields."""
    return {k: v for k, v in record.items() if k not in names}
