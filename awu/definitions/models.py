"""AWU definitions and their versions, as stored.

A :class:`DefinitionVersion` holds one version of the rules as columns and JSON
and converts to and from the engine's plain :class:`~awu.rules.spec.DefinitionSpec`.
A published version is frozen: the database refuses edits to its rules
(migration 0002), so a compiled copy may be cached by version id anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from awu.rules.engine import window_hours_problem
from awu.rules.spec import Clause, DefinitionSpec, IncidentRule, Voids

# "Covers all of history": the covers_from of the shipped definitions' version 1.
BEGINNING_OF_TIME = datetime(2000, 1, 1, tzinfo=UTC)

CLAUSE_KEYS = frozenset({"type", "condition", "link", "within_days", "carry", "total", "at_least"})


class Definition(models.Model):
    """An AWU definition: what one completed unit of work is in a domain."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    domain = models.CharField(
        max_length=40, help_text="engineering, sales, legal, support, marketing, ..."
    )
    description = models.TextField(blank=True)
    owner_team = models.ForeignKey(
        "ledger.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain", "key"]

    def __str__(self) -> str:
        return self.key


class DefinitionVersion(models.Model):
    """One version of a definition's rules.

    ``requires`` and ``disqualifiers`` are lists of clause objects with the keys
    of :class:`awu.rules.spec.Clause` (``at_least`` as a decimal string).
    A draft may be saved with problems (they are shown next to each field);
    publishing refuses them. ``covers_from`` is the earliest trigger time this
    version governs once published.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        # Awaiting approval (awu.definitions.approvals): frozen until approved
        # (published), rejected or withdrawn (draft again).
        PROPOSED = "proposed"
        PUBLISHED = "published"

    definition = models.ForeignKey(Definition, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    trigger_type = models.CharField(max_length=100)
    trigger_condition = models.TextField(blank=True, default="")
    requires = models.JSONField(default=list, blank=True)
    survive_days = models.PositiveIntegerField(default=0)
    disqualifiers = models.JSONField(default=list, blank=True)
    units = models.CharField(
        max_length=1000, default="1", help_text="A number, or CEL over event (the trigger)."
    )
    incidents = models.JSONField(
        null=True,
        blank=True,
        default=None,
        help_text='Incident attribution, e.g. {"window_hours": 24, "voids": "sole"}; '
        "empty: none. voids: none, explicit, sole (explicit, and deploy-window when the "
        "deploy held one change) or all. window_hours: more than 0, at most 720.",
    )
    covers_from = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["definition", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "version"], name="definitionversion_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "proposed"])
                | models.Q(published_at__isnull=False, covers_from__isnull=False),
                name="definitionversion_published_dated",
            ),
        ]
        indexes = [models.Index(fields=["status", "definition"], name="definitionversion_status")]

    def __str__(self) -> str:
        return f"{self.definition.key} v{self.version}"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def is_proposed(self) -> bool:
        return self.status == self.Status.PROPOSED

    def spec(self) -> DefinitionSpec:
        """The engine's view of this version.

        Raises ``ValueError`` when a clause is not an object of the known shape
        (only drafts can be in that state).
        """
        definition = self.definition if self.definition_id else None
        return DefinitionSpec(
            key=definition.key if definition else "",
            version=self.version or 0,
            domain=definition.domain if definition else "",
            trigger_type=self.trigger_type,
            trigger_condition=self.trigger_condition or None,
            requires=tuple(
                clause_from_json(c, f"requires[{i}]") for i, c in enumerate(self.requires or [])
            ),
            survive_days=self.survive_days,
            disqualifiers=tuple(
                clause_from_json(c, f"disqualifiers[{i}]")
                for i, c in enumerate(self.disqualifiers or [])
            ),
            units=(self.units or "1").strip() or "1",
            incidents=incident_rule_from_json(self.incidents),
        )

    def clean(self) -> None:
        from awu.definitions.services import version_problems

        problems = version_problems(self)
        if problems:
            raise ValidationError(problems)


def clause_to_json(clause: Clause) -> dict[str, Any]:
    """A clause as stored: only the keys that differ from the defaults."""
    out: dict[str, Any] = {"type": clause.type}
    if clause.condition:
        out["condition"] = clause.condition
    if clause.link:
        out["link"] = list(clause.link)
    if clause.within_days:
        out["within_days"] = clause.within_days
    if clause.carry:
        out["carry"] = list(clause.carry)
    if clause.total:
        out["total"] = clause.total
    if clause.at_least is not None:
        out["at_least"] = str(clause.at_least)
    return out


def _kinds(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where} must be a list of ref kinds")
    return tuple(value)


def clause_from_json(data: Any, where: str) -> Clause:
    """A stored clause object as a :class:`Clause`; ``ValueError`` names ``where`` when malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object with at least a type")
    unknown = sorted(set(data) - CLAUSE_KEYS)
    if unknown:
        raise ValueError(f"{where} has unknown keys: {', '.join(unknown)}")
    event_type = data.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ValueError(f"{where}.type must be an event type")
    within = data.get("within_days", 0)
    if isinstance(within, bool) or not isinstance(within, int) or within < 0:
        raise ValueError(f"{where}.within_days must be a whole number of days, 0 or more")
    for name in ("condition", "total"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise ValueError(f"{where}.{name} must be a CEL expression (a string)")
    at_least: Decimal | None = None
    if data.get("at_least") is not None:
        try:
            at_least = Decimal(str(data["at_least"]))
        except InvalidOperation:
            raise ValueError(f"{where}.at_least must be a number") from None
        if not at_least.is_finite():
            raise ValueError(f"{where}.at_least must be a finite number")
    return Clause(
        type=event_type,
        condition=data.get("condition") or None,
        link=_kinds(data.get("link"), f"{where}.link"),
        within_days=within,
        carry=_kinds(data.get("carry"), f"{where}.carry"),
        total=data.get("total") or None,
        at_least=at_least,
    )


INCIDENT_KEYS = frozenset({"window_hours", "voids"})


def incident_rule_from_json(data: Any) -> IncidentRule | None:
    """A stored incident rule as an :class:`IncidentRule` (None when there is none);
    ``ValueError`` names the field when it is malformed."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("incidents must be an object with window_hours and voids")
    unknown = sorted(set(data) - INCIDENT_KEYS)
    if unknown:
        raise ValueError(f"incidents has unknown keys: {', '.join(unknown)}")
    hours = data.get("window_hours", 24)
    problem = window_hours_problem(hours)
    if problem:
        raise ValueError(f"incidents.window_hours {problem}")
    voids = data.get("voids", Voids.SOLE.value)
    if voids not in {v.value for v in Voids}:
        raise ValueError(f"incidents.voids must be one of {', '.join(v.value for v in Voids)}")
    return IncidentRule(window_hours=hours, voids=Voids(voids))


def incident_rule_to_json(rule: IncidentRule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {"window_hours": rule.window_hours, "voids": rule.voids.value}


def version_fields_from_spec(spec: DefinitionSpec) -> dict[str, Any]:
    """The DefinitionVersion column values that hold ``spec``'s rules."""
    return {
        "trigger_type": spec.trigger_type,
        "trigger_condition": spec.trigger_condition or "",
        "requires": [clause_to_json(c) for c in spec.requires],
        "survive_days": spec.survive_days,
        "disqualifiers": [clause_to_json(c) for c in spec.disqualifiers],
        "units": spec.units,
        "incidents": incident_rule_to_json(spec.incidents),
    }


# The columns that make up a version's rules; frozen once published.
RULE_FIELDS = (
    "trigger_type",
    "trigger_condition",
    "requires",
    "survive_days",
    "disqualifiers",
    "units",
    "incidents",
)


# The approval policy's preview window when a domain has no row.
DEFAULT_PREVIEW_DAYS = 30


class ApprovalPolicy(models.Model):
    """Whether a domain's definition changes and rescores need four eyes.

    A domain without a row requires approval (:func:`awu.definitions.approvals.policy_for`):
    a new domain is guarded until an admin turns it off.
    """

    domain = models.CharField(max_length=40, unique=True)
    required = models.BooleanField(
        default=True,
        help_text="A draft is proposed and approved by someone outside the owning team "
        "before it is published; a rescore of history too.",
    )
    preview_days = models.PositiveIntegerField(
        default=DEFAULT_PREVIEW_DAYS,
        help_text="The proposal's preview: units gained and lost over the last N days.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain"]
        verbose_name_plural = "approval policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(preview_days__gte=1, preview_days__lte=3650),
                name="approvalpolicy_preview_days_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.domain}: {'approval required' if self.required else 'no approval'}"


class ChangeRequest(models.Model):
    """A proposed publication of a draft, or a requested rescore, awaiting four eyes.

    ``preview`` is the diff computed when it was proposed (units gained and lost
    over the last ``preview_days`` days, by team): the approver decides on what
    the proposer saw.
    """

    class Kind(models.TextChoices):
        PUBLISH = "publish"
        RESCORE = "rescore"

    class State(models.TextChoices):
        PROPOSED = "proposed"
        APPROVED = "approved"
        REJECTED = "rejected"
        WITHDRAWN = "withdrawn"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    definition = models.ForeignKey(Definition, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(DefinitionVersion, on_delete=models.PROTECT, related_name="+")
    covers_from = models.DateTimeField(
        null=True, blank=True, help_text="A rescore: the earliest trigger it replays."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PROPOSED)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True, help_text="The proposer's reason.")
    preview_days = models.PositiveIntegerField(default=DEFAULT_PREVIEW_DAYS)
    preview = models.JSONField(default=dict, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="The approver's reason.")
    executed_at = models.DateTimeField(
        null=True, blank=True, help_text="A rescore: when the approved run started."
    )

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "kind"],
                condition=models.Q(state="proposed"),
                name="changerequest_one_open_per_version",
            ),
            models.CheckConstraint(
                condition=models.Q(state="proposed")
                | models.Q(decided_at__isnull=False, decided_by__isnull=False),
                name="changerequest_decided_dated",
            ),
        ]
        indexes = [models.Index(fields=["state", "definition"], name="changerequest_state")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.version} ({self.state})"
