"""How much scored work each actor has, for the ledger's readers.

The unmapped-actors list shows, beside each actor's events and spend, the work
units waiting on a mapping. Scoring is not the ledger's concern and its tables are
not the ledger's to read, so the package that scores work registers a counter at
start-up (``awu.scoring``'s app config) and the readers ask through here. With no
counter registered (a ledger without scoring) every actor has none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

# actors, since -> {actor: (work units, AWUs credited)} for units triggered since.
Counter = Callable[[Sequence[str], datetime], dict[str, tuple[int, Decimal]]]

_counter: Counter | None = None


def register(counter: Counter) -> None:
    global _counter
    _counter = counter


def units_of(actors: Sequence[str], since: datetime) -> dict[str, tuple[int, Decimal]]:
    """(work units, AWUs credited) per actor; actors with none are absent."""
    if not actors or _counter is None:
        return {}
    return _counter(actors, since)
