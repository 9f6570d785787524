"""Fixtures for the ledger API tests: a pinned clock and clients holding one scope each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.ledger.factories import NOW


@pytest.fixture
def pinned_clock(settings: Any) -> str:
    """Pin ledger.clock to NOW, so the future-skew check does not depend on the wall clock."""
    settings.AWU_NOW = NOW
    return NOW


@pytest.fixture
def events_writer(api: Callable[..., Any], pinned_clock: str) -> Any:
    return api("events:write")


@pytest.fixture
def usage_writer(api: Callable[..., Any], pinned_clock: str) -> Any:
    return api("usage:write")


@pytest.fixture
def reader(api: Callable[..., Any]) -> Any:
    return api("reports:read")
