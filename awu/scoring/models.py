"""Scoring state: WorkUnit (one candidate AWU) and AwuEntry (every change of credit).

WorkUnit rows are the pipeline's working state and are updated in place under a
row lock (awu.scoring.settle); every change of their state is also appended to
UnitTransition, so a unit reads as it stood at any past time. AwuEntry is append-only, enforced by the
database (migration 0002): reports sum entries, so any past report can be
reproduced "as of" a time.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q, Value

from awu.definitions.models import Definition, DefinitionVersion


class WorkUnit(models.Model):
    """One trigger event scored by one definition version.

    ``credited`` always equals the sum of the unit's entries. ``ref_keys`` holds
    "kind:value" for the unit's refs (trigger refs plus carried ones), the same
    encoding as ledger WorkEvent.ref_keys. ``person`` and ``team`` are what scoring
    resolved (the trigger's actor through Identity, the team the trigger names,
    else the membership at the trigger time), kept as evidence: reports resolve
    them again when read (awu.reports.facts), so later directory changes count.
    A unit superseded by a rescore keeps its entries; reports skip it from
    ``superseded_at`` on.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        VOIDED = "voided"
        EXPIRED = "expired"

    id = models.BigAutoField(primary_key=True)
    version = models.ForeignKey(
        DefinitionVersion, on_delete=models.PROTECT, related_name="work_units"
    )
    trigger_event_id = models.BigIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    units = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    credited = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    reason = models.CharField(max_length=500, null=True, blank=True)
    triggered_at = models.DateTimeField()
    satisfied_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    evidence = ArrayField(models.BigIntegerField(), default=list)
    ref_keys = ArrayField(models.CharField(max_length=300), default=list)
    actor = models.CharField(max_length=254, null=True, blank=True)
    person = models.ForeignKey(
        "ledger.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "ledger.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=500, null=True, blank=True)
    ai_assisted = models.BooleanField(null=True, blank=True)
    ai_share = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    # The incidents attributed to the unit (awu.rules.spec.Attribution as JSON),
    # and their keys ("incident:<ref>" or "event:<id>") for indexed lookups.
    # Database defaults too, so a bulk load (COPY, INSERT ... SELECT) may leave them out.
    attributions = models.JSONField(
        default=list, db_default=Value([], models.JSONField()), blank=True
    )
    incident_keys = ArrayField(
        models.CharField(max_length=300),
        default=list,
        db_default=Value([], ArrayField(models.CharField(max_length=300))),
        blank=True,
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        DefinitionVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_units",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "trigger_event_id"], name="workunit_version_trigger"
            ),
        ]
        indexes = [
            models.Index(fields=["version", "state"], name="workunit_version_state"),
            models.Index(fields=["team", "triggered_at"], name="workunit_team_time"),
            models.Index(fields=["person", "triggered_at"], name="workunit_person_time"),
            models.Index(fields=["completed_at"], name="workunit_completed"),
            models.Index(fields=["trigger_event_id"], name="workunit_trigger"),
            models.Index(
                fields=["closes_at"], name="workunit_closes", condition=Q(closes_at__isnull=False)
            ),
            # fastupdate off: units are rewritten all the time, and a GIN pending
            # list is scanned in full by every lookup until a vacuum merges it.
            GinIndex(fields=["ref_keys"], name="workunit_ref_keys", fastupdate=False),
            GinIndex(
                fields=["incident_keys"],
                name="workunit_incident_keys",
                condition=Q(incident_keys__len__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"unit {self.pk} ({self.state}) of event {self.trigger_event_id}"


class AwuEntry(models.Model):
    """One change of a unit's credit. Append-only.

    ``created_at`` is when it was credited ("as of" reports sum entries created
    by then); ``effective_at`` is the event time it belongs to (the completion for
    +units, the disqualifier's time for -units). Attribution and domain are
    copied from the unit so reports need no join to sum entries.
    """

    id = models.BigAutoField(primary_key=True)
    unit = models.ForeignKey(WorkUnit, on_delete=models.PROTECT, related_name="entries")
    version = models.ForeignKey(DefinitionVersion, on_delete=models.PROTECT, related_name="+")
    definition = models.ForeignKey(Definition, on_delete=models.PROTECT, related_name="+")
    domain = models.CharField(max_length=40)
    delta = models.DecimalField(max_digits=20, decimal_places=6)
    state = models.CharField(max_length=10, choices=WorkUnit.State.choices)
    reason = models.CharField(max_length=500, null=True, blank=True)
    created_at = models.DateTimeField()
    effective_at = models.DateTimeField()
    # Plain ids, not foreign keys: an append-only row cannot follow a SET NULL.
    person_id = models.BigIntegerField(null=True, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "AWU entry"
        verbose_name_plural = "AWU entries"
        indexes = [
            models.Index(fields=["created_at"], name="awuentry_created"),
            models.Index(fields=["effective_at"], name="awuentry_effective"),
            models.Index(fields=["team_id", "effective_at"], name="awuentry_team_time"),
            models.Index(fields=["person_id", "effective_at"], name="awuentry_person_time"),
            models.Index(fields=["definition", "effective_at"], name="awuentry_definition_time"),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+} on unit {self.unit_id}"


class UnitTransition(models.Model):
    """A unit's state, units, completion and refs from ``created_at`` on. Append-only.

    Written by a trigger on scoring_workunit (migration 0004) whenever one of
    those changes, so every write path records it; "as of" reports read a unit
    as its latest transition by then. ``created_at`` is the unit row's
    ``updated_at``: the scoring clock, as entries' ``created_at``.
    """

    id = models.BigAutoField(primary_key=True)
    unit = models.ForeignKey(
        WorkUnit, on_delete=models.PROTECT, related_name="transitions", db_index=False
    )
    state = models.CharField(max_length=10, choices=WorkUnit.State.choices)
    units = models.DecimalField(max_digits=20, decimal_places=6)
    completed_at = models.DateTimeField(null=True, blank=True)
    ref_keys = ArrayField(models.CharField(max_length=300), default=list)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["unit", "created_at"], name="unittransition_unit_time")]

    def __str__(self) -> str:
        return f"unit {self.unit_id} {self.state} from {self.created_at:%Y-%m-%d %H:%M:%S}"
