"""The published definition versions, compiled, and which one governs a trigger."""

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from awu.definitions.models import DefinitionVersion
from awu.rules.engine import CompiledDefinition, compile_definition

logger = logging.getLogger(__name__)

# Keyed by (version id, published at): an id alone could name another version in a
# database recreated or restored under a running process (ids start over).
_compiled: dict[tuple[int, datetime | None], CompiledDefinition] = {}
_compiled_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class LiveVersion:
    """A published version with its compiled rules (cached per process by id)."""

    id: int
    definition_id: int
    domain: str
    number: int
    covers_from: datetime
    published_at: datetime
    compiled: CompiledDefinition

    @property
    def trigger_type(self) -> str:
        return self.compiled.spec.trigger_type

    @property
    def types(self) -> frozenset[str]:
        return self.compiled.types


def _compile(version: DefinitionVersion) -> CompiledDefinition | None:
    # Published versions are immutable (the database refuses edits), so the
    # compiled form can be kept for the life of the process.
    key = (version.pk, version.published_at)
    with _compiled_lock:
        hit = _compiled.get(key)
    if hit is not None:
        return hit
    try:
        compiled = compile_definition(version.spec())
    except ValueError:
        # Publishing checks every expression, so this is a bug, not user input:
        # say so loudly but keep scoring the other definitions.
        logger.exception("published version %s does not compile; it is skipped", version)
        return None
    with _compiled_lock:
        _compiled[key] = compiled
    return compiled


class Catalog:
    """The published versions, and which one governs a trigger.

    For a trigger at ``t`` the governing version of a definition is the most
    recently published one whose ``covers_from <= t``.
    """

    def __init__(self, versions: Iterable[LiveVersion]) -> None:
        self.by_id: dict[int, LiveVersion] = {}
        by_definition: defaultdict[int, list[LiveVersion]] = defaultdict(list)
        for v in versions:
            self.by_id[v.id] = v
            by_definition[v.definition_id].append(v)
        self._by_definition = {
            d: sorted(vs, key=lambda v: (v.published_at, v.number), reverse=True)
            for d, vs in by_definition.items()
        }
        self.trigger_definitions: defaultdict[str, set[int]] = defaultdict(set)
        self.type_definitions: defaultdict[str, set[int]] = defaultdict(set)
        # definition -> requirement type -> ref kinds its requirements carry in
        self.carries: defaultdict[int, defaultdict[str, set[str]]] = defaultdict(
            lambda: defaultdict(set)
        )
        self.carry_depth = 0
        # The longest deploy window of any version with an incident rule (0: none).
        self.incident_window_hours = 0
        for v in self.by_id.values():
            spec = v.compiled.spec
            if spec.incidents is not None:
                self.incident_window_hours = max(
                    self.incident_window_hours, spec.incidents.window_hours
                )
            self.trigger_definitions[spec.trigger_type].add(v.definition_id)
            for t in v.types:
                self.type_definitions[t].add(v.definition_id)
            carrying = [c for c in spec.requires if c.carry]
            for clause in carrying:
                self.carries[v.definition_id][clause.type].update(clause.carry)
            self.carry_depth = max(self.carry_depth, len(carrying))
        self.trigger_types = frozenset(self.trigger_definitions)
        self.carrying_types = frozenset(t for c in self.carries.values() for t in c)

    def governing(self, definition_id: int, at: datetime) -> LiveVersion | None:
        for version in self._by_definition.get(definition_id, ()):
            if version.covers_from <= at:
                return version
        return None


def load_catalog() -> Catalog:
    """Every published version, compiled (one query; compiling only new versions)."""
    rows = DefinitionVersion.objects.filter(
        status=DefinitionVersion.Status.PUBLISHED
    ).select_related("definition")
    live = []
    for row in rows:
        compiled = _compile(row)
        if compiled is None:
            continue
        assert row.covers_from is not None
        assert row.published_at is not None
        live.append(
            LiveVersion(
                id=row.pk,
                definition_id=row.definition_id,
                domain=row.definition.domain,
                number=row.version,
                covers_from=row.covers_from,
                published_at=row.published_at,
                compiled=compiled,
            )
        )
    return Catalog(live)
