"""Shared by the mapping tests: arbitrary JSON, and the "maps or refuses" property.

Every vendor's ``parse`` promises to return Mapped or raise MappingError for any
body whatsoever; the property tests feed it mutated and random JSON and check
exactly that, with these helpers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck
from hypothesis import strategies as st

from integrations.webhooks.base import Mapped, MappingError

# Other suites may share the machine; a slow draw is not a failure of the mapping.
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]


def json_values(*, floats: bool = False, text_size: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value, nested a few levels; ``floats`` adds (finite) floats to the leaves."""
    leaves = st.none() | st.booleans() | st.integers()
    if floats:
        leaves = leaves | st.floats(allow_nan=False)
    return st.recursive(
        leaves | st.text(max_size=text_size),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=20,
    )


def maps_or_refuses(
    parse: Callable[[], Any], refused: tuple[type[Exception], ...] = (MappingError,)
) -> Mapped | None:
    """Run ``parse``: None when it raised one of ``refused``; else it must have returned Mapped.

    Any other exception (KeyError, TypeError, ...) propagates and fails the test.
    """
    try:
        result = parse()
    except refused:
        return None
    assert isinstance(result, Mapped)
    return result


class Recorded:
    """One vendor's recorded deliveries (a fixtures folder), as bodies to map."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def body(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def edited(
        self, name: str, change: Callable[[Any], Any], *, within: str | None = None
    ) -> bytes:
        """The JSON fixture after ``change`` has edited it (or its ``within`` member) in place."""
        payload = json.loads(self.body(name))
        change(payload if within is None else payload[within])
        return json.dumps(payload).encode()


def only_event(mapped: Mapped) -> dict[str, Any]:
    """The one event a delivery mapped to (failing when it was ignored or made several)."""
    assert mapped.ignored is None
    assert len(mapped.events) == 1
    event: dict[str, Any] = mapped.events[0]
    return event


def replace_key(node: Any, key: str, value: Any) -> None:
    """Set ``key`` to ``value`` wherever it occurs in the nested dicts of ``node``."""
    if isinstance(node, dict):
        if key in node:
            node[key] = value
        for child in list(node.values()):
            replace_key(child, key, value)
