"""Services for AWU definitions: check, draft, publish, install the shipped ones.

Versions are immutable once published; a change is a new draft, published in turn.
Which version scores a trigger is decided by publication (the most recently
published version covering the trigger's time), never by editing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Max

from awu.definitions.defaults import DEFAULT_DEFINITIONS
from awu.definitions.models import (
    BEGINNING_OF_TIME,
    RULE_FIELDS,
    ChangeRequest,
    Definition,
    DefinitionVersion,
    clause_from_json,
    incident_rule_from_json,
    version_fields_from_spec,
)
from awu.rules.cel import CelError, CelProblem, check_condition, check_number
from awu.rules.engine import compile_definition
from awu.rules.spec import Clause, DefinitionSpec
from ledger import audit


class DefinitionError(Exception):
    """A definition operation that cannot be done; ``problems`` maps field -> messages."""

    def __init__(self, message: str, problems: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or {}


class InvalidVersion(DefinitionError):
    """The version's rules have problems (bad CEL, malformed clauses)."""


class FrozenVersion(DefinitionError):
    """The version is published or has scored work; make a new draft instead."""


def _describe(problem: CelProblem, where: str | None = None) -> str:
    at = f"line {problem.line}, column {problem.column}: " if problem.line is not None else ""
    return f"{where}: {at}{problem.message}" if where else f"{at}{problem.message}"


def _literal_units(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def version_problems(version: DefinitionVersion) -> dict[str, list[str]]:
    """Everything wrong with a version's rules, by form field; empty means publishable.

    CEL problems carry their position as "line L, column C: message"; clause
    problems are prefixed with the clause, e.g. ``requires[0].condition``.
    """
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    trigger_type = (version.trigger_type or "").strip()
    if not trigger_type:
        add("trigger_type", "give the event type that triggers a unit")
    condition = version.trigger_condition or ""
    if condition.strip():
        for p in check_condition(
            condition, event_type=trigger_type or None, trigger_type=trigger_type or None
        ):
            add("trigger_condition", _describe(p))

    for name in ("requires", "disqualifiers"):
        raw = getattr(version, name)
        if raw is None:
            continue
        if not isinstance(raw, list):
            add(name, "must be a list of clause objects")
            continue
        for index, data in enumerate(raw):
            where = f"{name}[{index}]"
            try:
                clause = clause_from_json(data, where)
            except ValueError as exc:
                add(name, str(exc))
                continue
            for message in _clause_problems(clause, where, name, trigger_type):
                add(name, message)

    try:
        incident_rule_from_json(version.incidents)
    except ValueError as exc:
        add("incidents", str(exc))

    units = (version.units or "").strip() or "1"
    literal = _literal_units(units)
    if literal is not None:
        if literal < 0:
            add("units", "must not be negative")
    else:
        for p in check_number(units, event_type=trigger_type or None):
            add("units", _describe(p))

    if not problems:
        # The engine's own checks are the last word (window and aggregate rules).
        try:
            compile_definition(version.spec())
        except CelError as exc:
            for p in exc.problems:
                add("__all__", _describe(p))
        except ValueError as exc:
            add("__all__", str(exc))
    return problems


def _clause_problems(clause: Clause, where: str, name: str, trigger_type: str) -> list[str]:
    out: list[str] = []
    if clause.condition:
        out += [
            _describe(p, f"{where}.condition")
            for p in check_condition(
                clause.condition, event_type=clause.type, trigger_type=trigger_type or None
            )
        ]
    if name == "disqualifiers":
        if clause.total is not None or clause.at_least is not None:
            out.append(f"{where}: only a requirement can have a total")
        if clause.within_days or clause.carry:
            out.append(f"{where}: within_days and carry apply to requirements only")
        return out
    if (clause.total is None) != (clause.at_least is None):
        out.append(f"{where}: total and at_least go together")
    if clause.total:
        out += [
            _describe(p, f"{where}.total")
            for p in check_number(clause.total, event_type=clause.type)
        ]
    return out


def version_is_frozen(version: DefinitionVersion) -> bool:
    """A version that is published (or has scored anything), or proposed for
    approval, can no longer be edited.

    Only published versions score, and publication cannot be undone (the
    database refuses it), so a version that has scored anything is published.
    A proposed version is frozen until its request is decided or withdrawn.
    """
    return version.pk is not None and (version.is_published or version.is_proposed)


def version_update(*, version: DefinitionVersion, **rules: Any) -> DefinitionVersion:
    """Change a draft's rules (and note). Raises :class:`FrozenVersion` for a frozen one.

    Problems do not stop a draft from being saved; :func:`definition_publish` refuses them.
    """
    unknown = set(rules) - {*RULE_FIELDS, "note"}
    if unknown:
        raise TypeError(f"not a rule field: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = DefinitionVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_proposed:
            raise FrozenVersion(
                f"{locked} is proposed for approval and frozen; withdraw the proposal to edit it"
            )
        if version_is_frozen(locked):
            raise FrozenVersion(
                f"{locked} is frozen (published or has scored work); create a new draft from it"
            )
        before = {name: getattr(locked, name) for name in rules}
        for name, value in rules.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(rules))
        audit.record("definition.draft_changed", **_audited(locked), before=before, after=rules)
    return locked


def _audited(version: DefinitionVersion) -> dict[str, Any]:
    """The object of a definition's audit rows: the definition, labelled with the version."""
    return {
        "object_type": "definition",
        "object_id": version.definition_id,
        "label": f"{version.definition.key} v{version.version}",
    }


def _rules(version: DefinitionVersion) -> dict[str, Any]:
    return {"version": version.version, **{name: getattr(version, name) for name in RULE_FIELDS}}


def version_drafted(version: DefinitionVersion, *, reason: str = "") -> DefinitionVersion:
    """Record a new draft (inside the transaction that created it)."""
    audit.record("definition.drafted", **_audited(version), after=_rules(version), reason=reason)
    return version


def version_create_draft(*, version: DefinitionVersion) -> DefinitionVersion:
    """Save ``version`` (unsaved, rules set) as a new draft numbered after the latest."""
    with transaction.atomic():
        Definition.objects.select_for_update().filter(pk=version.definition_id).get()
        latest = definition_latest_number(version.definition_id)
        version.version = latest + 1
        version.status = DefinitionVersion.Status.DRAFT
        version.save()
        return version_drafted(version)


def definition_latest_number(definition_id: int) -> int:
    found = DefinitionVersion.objects.filter(definition_id=definition_id).aggregate(
        n=Max("version")
    )["n"]
    return int(found or 0)


def version_from_spec(
    *,
    definition: Definition,
    spec: DefinitionSpec,
    note: str = "",
) -> DefinitionVersion:
    """A new draft of ``definition`` holding ``spec``'s rules, numbered after the latest."""
    with transaction.atomic():
        # Lock the definition so two drafts made at once get distinct numbers.
        Definition.objects.select_for_update().filter(pk=definition.pk).get()
        latest = definition_latest_number(definition.pk)
        return version_drafted(
            DefinitionVersion.objects.create(
                definition=definition,
                version=latest + 1,
                status=DefinitionVersion.Status.DRAFT,
                note=note,
                **version_fields_from_spec(spec),
            )
        )


def version_draft_from(*, version: DefinitionVersion, note: str = "") -> DefinitionVersion:
    """A new draft copying ``version``'s rules: how a frozen version is "edited"."""
    copy = {name: getattr(version, name) for name in RULE_FIELDS}
    with transaction.atomic():
        Definition.objects.select_for_update().filter(pk=version.definition_id).get()
        latest = definition_latest_number(version.definition_id)
        return version_drafted(
            DefinitionVersion.objects.create(
                definition_id=version.definition_id,
                version=latest + 1,
                status=DefinitionVersion.Status.DRAFT,
                note=note or f"from v{version.version}",
                **copy,
            ),
            reason=f"from v{version.version}",
        )


def definition_publish(
    *,
    version: DefinitionVersion,
    now: datetime,
    covers_from: datetime | None = None,
    reason: str = "",
    approval: ChangeRequest | None = None,
) -> DefinitionVersion:
    """Publish a draft: from ``covers_from`` (default ``now``) on, it governs new triggers.

    Re-checks every expression first and raises :class:`InvalidVersion` (with the
    problems by field) when any is wrong, and :class:`FrozenVersion` when the
    version is already published. Older triggers stay with their versions.

    When the definition's domain requires approval (awu.definitions.approvals),
    only an approved ``approval`` (a publication of this version, or a rescore
    of this definition) lets it through; without one it raises
    :class:`~awu.definitions.approvals.ApprovalRequired`. A proposed version is
    published only through its approval.
    """
    from awu.definitions.approvals import ApprovalRequired, approval_required

    with transaction.atomic():
        locked = (
            DefinitionVersion.objects.select_for_update()
            .select_related("definition")
            .get(pk=version.pk)
        )
        if locked.is_published:
            raise FrozenVersion(f"{locked} is already published")
        if approval is not None:
            if not (
                approval.state == ChangeRequest.State.APPROVED
                and approval.definition_id == locked.definition_id
                and (
                    approval.kind == ChangeRequest.Kind.RESCORE or approval.version_id == locked.pk
                )
            ):
                raise ApprovalRequired(
                    f"request #{approval.pk} does not approve publishing {locked}"
                )
        elif locked.is_proposed:
            raise FrozenVersion(
                f"{locked} is proposed for approval: it is published when the request is "
                "approved (or withdraw it)"
            )
        elif approval_required(locked.definition.domain):
            raise ApprovalRequired(
                f"the {locked.definition.domain} domain requires approval: propose {locked} "
                "(an admin or a lead of the owning team) and have someone outside the owning "
                "team approve it"
            )
        problems = version_problems(locked)
        if problems:
            raise InvalidVersion(f"{locked} has problems and cannot be published", problems)
        previous = locked.status
        locked.status = DefinitionVersion.Status.PUBLISHED
        locked.published_at = now
        locked.covers_from = covers_from or now
        locked.save(update_fields=["status", "published_at", "covers_from"])
        audit.record(
            "definition.published",
            **_audited(locked),
            before={"status": previous},
            after={
                **_rules(locked),
                "status": locked.status,
                "covers_from": locked.covers_from,
                **({"request": approval.pk} if approval is not None else {}),
            },
            reason=reason or locked.note,
        )
    return locked


# The note on every version the product published itself: how an install tells a
# shipped version (which a newer release may replace) from its team's own.
SHIPPED_NOTE = "shipped default"


def definitions_install_defaults(*, now: datetime) -> list[str]:
    """Install the shipped definitions, or publish their new shipped version.

    Idempotent. A missing definition is created with a published version 1 that
    covers all of history. One whose latest published version is a shipped one
    with other rules than this release ships gets those rules as a new published
    version covering triggers from ``now`` (older triggers keep the version that
    scored them; ``rescore`` replays them explicitly): published versions are
    never edited. A definition whose team published its own version is left
    alone. Returns the keys installed or given a new version.
    """
    changed: list[str] = []
    for default in DEFAULT_DEFINITIONS:
        spec = default.spec
        fields = version_fields_from_spec(spec)
        with transaction.atomic():
            definition, _ = Definition.objects.get_or_create(
                key=spec.key,
                defaults={
                    "name": default.name,
                    "domain": spec.domain,
                    "description": default.description,
                },
            )
            # Lock the definition: two installs at once publish one new version.
            Definition.objects.select_for_update().filter(pk=definition.pk).get()
            versions = definition.versions.order_by("-version")
            latest = versions.first()
            if latest is None:
                number, covers_from = 1, BEGINNING_OF_TIME
            else:
                published = versions.filter(status=DefinitionVersion.Status.PUBLISHED).first()
                if published is None or published.note != SHIPPED_NOTE:
                    continue
                if all(getattr(published, name) == value for name, value in fields.items()):
                    continue
                number, covers_from = latest.version + 1, now
                Definition.objects.filter(pk=definition.pk).update(
                    name=default.name, description=default.description
                )
            shipped = DefinitionVersion.objects.create(
                definition=definition,
                version=number,
                status=DefinitionVersion.Status.PUBLISHED,
                published_at=now,
                covers_from=covers_from,
                note=SHIPPED_NOTE,
                **fields,
            )
            audit.record(
                "definition.published",
                **_audited(shipped),
                after={**_rules(shipped), "covers_from": shipped.covers_from},
                reason="shipped default",
            )
            changed.append(spec.key)
    return changed
